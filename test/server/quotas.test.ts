import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../catalog/databases.ts';
import { storedFiles } from '../helpers.ts';
import { jsonHeaders, startTestServer } from './server-harness.ts';

/** Per-tenant quotas, enforced at store time on every way in: raw and streamed stores, TUS, direct uploads. */

interface QuotaError { error: { code: string; message: string; quota: { used: { bytes: number; artifacts: number }; allowed: { bytes?: number; artifacts?: number } } } }

const KB = 1024;
const text = (n: number, c = 'a') => Buffer.alloc(n, c);

for (const database of testDatabases) {
  describe(`quotas on ${database.name}`, async () => {
    const server = await startTestServer({ database, storage: { quotas: { default: { bytes: '10KB', artifacts: 3 }, tenants: { big: { bytes: '1MB' } } } } });
    const store = async (tenant: string, body: Buffer | ReadableStream<Uint8Array>) => fetch(`${server.url}/v1/artifacts?artifactType=text`, {
      method: 'POST', headers: { ...await server.as(tenant), 'content-type': 'text/plain' }, body, ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
    } as RequestInit);
    const count = async (tenant: string) => (await server.storage.listArtifacts({ tenantId: tenant, limit: 1000 })).items.length;

    it('refuses the store past the artifact limit with 507 and the used and allowed figures; nothing is kept', async () => {
      for (let i = 0; i < 3; i++) assert.equal((await store('alice', text(100))).status, 201);
      const files = await storedFiles(server.filesDir);
      const res = await store('alice', text(100));
      assert.equal(res.status, 507);
      const body = await res.json() as QuotaError;
      assert.equal(body.error.code, 'QUOTA_EXCEEDED');
      assert.deepEqual(body.error.quota.used, { bytes: 300, artifacts: 3 });
      assert.deepEqual(body.error.quota.allowed, { bytes: 10 * KB, artifacts: 3 });
      assert.match(body.error.message, /3 of 3 artifacts/);
      assert.equal(await count('alice'), 3);
      assert.deepEqual(await storedFiles(server.filesDir), files);
    });

    it('refuses a declared size over the byte limit before reading, and a stream of unknown length once its real size is known', async () => {
      assert.equal((await store('bob', text(8 * KB))).status, 201);
      const declared = await store('bob', text(4 * KB));
      assert.equal(declared.status, 507);
      assert.deepEqual((await declared.json() as QuotaError).error.quota.used, { bytes: 8 * KB, artifacts: 1 });
      const files = await storedFiles(server.filesDir);
      // No Content-Length: the quota can only be held once the bytes have passed.
      const streamed = await store('bob', new ReadableStream({ start(c) { c.enqueue(text(2 * KB)); c.enqueue(text(2 * KB)); c.close(); } }));
      assert.equal(streamed.status, 507);
      assert.equal(await count('bob'), 1);
      assert.deepEqual(await storedFiles(server.filesDir), files, 'the object stored before the check went again');
    });

    it('holds TUS uploads to the quota at creation, from their declared length', async () => {
      const res = await fetch(`${server.url}/v1/uploads/tus`, {
        method: 'POST',
        headers: { ...await server.as('bob'), 'tus-resumable': '1.0.0', 'upload-length': String(4 * KB), 'upload-metadata': `artifactType ${Buffer.from('text').toString('base64')},contentType ${Buffer.from('text/plain').toString('base64')}` },
      });
      assert.equal(res.status, 507);
      assert.equal((JSON.parse(await res.text()) as QuotaError).error.code, 'QUOTA_EXCEEDED');
    });

    it('holds direct uploads to the quota when presigned with a size, and when completed with what landed', async () => {
      const bob = await server.as('bob');
      const presigned = await fetch(`${server.url}/v1/uploads`, { method: 'POST', headers: jsonHeaders(bob), body: JSON.stringify({ artifactType: 'text', contentType: 'text/plain', size: 4 * KB }) });
      assert.equal(presigned.status, 507);
      const open = await fetch(`${server.url}/v1/uploads`, { method: 'POST', headers: jsonHeaders(bob), body: JSON.stringify({ artifactType: 'text', contentType: 'text/plain' }) });
      assert.equal(open.status, 201);
      const upload = await open.json() as { url: string; headers: Record<string, string>; storageKey: string };
      assert.equal((await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: text(4 * KB) })).status, 204);
      const completed = await fetch(`${server.url}/v1/uploads/${upload.storageKey}/complete`, { method: 'POST', headers: bob });
      assert.equal(completed.status, 507);
      assert.equal((await fetch(`${server.url}/v1/info/${upload.storageKey}`, { headers: bob })).status, 404);
      assert.equal(await server.storage.provider('local').exists(upload.storageKey), false);
    });

    it('GET /v1/stats shows usage against the quota; a delete makes room again', async () => {
      const carol = await server.as('carol');
      assert.equal((await store('carol', text(6 * KB))).status, 201);
      const stats = await (await fetch(`${server.url}/v1/stats`, { headers: carol })).json() as { quota: { used: unknown; allowed: unknown } };
      assert.deepEqual(stats.quota, { used: { bytes: 6 * KB, artifacts: 1 }, allowed: { bytes: 10 * KB, artifacts: 3 } });
      assert.equal((await store('carol', text(6 * KB))).status, 507);
      const [first] = (await server.storage.listArtifacts({ tenantId: 'carol' })).items;
      assert.equal((await fetch(`${server.url}/v1/artifacts/${first!.storageKey}`, { method: 'DELETE', headers: carol })).status, 204);
      assert.equal((await store('carol', text(6 * KB))).status, 201);
    });

    it('a tenant entry replaces the default: no artifact limit, its own byte limit', async () => {
      for (let i = 0; i < 5; i++) assert.equal((await store('big', text(100 * KB))).status, 201);
      const stats = await (await fetch(`${server.url}/v1/stats`, { headers: await server.as('big') })).json() as { quota: { allowed: unknown } };
      assert.deepEqual(stats.quota.allowed, { bytes: 1024 * KB });
    });
  });
}

describe('quota configuration', () => {
  it('fails at start-up naming the offending path', async () => {
    await assert.rejects(startTestServer({ storage: { quotas: { default: { bytes: 'lots' } } } }), /storage\.quotas\.default\.bytes/);
    await assert.rejects(startTestServer({ storage: { quotas: { tenants: { 'bad/tenant': { bytes: 1 } } } } }), /storage\.quotas\.tenants/);
  });
});
