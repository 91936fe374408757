import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { media } from '../fixtures/media.ts';
import { startTestServer } from './server-harness.ts';
import type { TestServer } from './server-harness.ts';
import { testDatabases } from '../catalog/databases.ts';

/**
 * Tenant isolation as data: caller x route x expected status. Another tenant's key answers exactly
 * like a missing one (404), never 403; a request without a token is 401 on every /v1 route.
 */

type Caller = 'none' | 'alice' | 'bob' | 'service' | 'service-as-alice' | 'service-as-bob';

interface Fixtures {
  aliceKey: string;
  bobKey: string;
  /** An artifact of alice's that a row may delete. */
  aliceDisposable: () => Promise<string>;
  bobPendingKey: string;
  missingAliceKey: string;
  /** An artifact of bob's in the trash. */
  bobTrashedKey: string;
}

interface Row {
  caller: Caller;
  route: string;
  request: (f: Fixtures) => Promise<{ method: string; path: string; body?: unknown; raw?: Uint8Array; headers?: Record<string, string> }> | { method: string; path: string; body?: unknown; raw?: Uint8Array; headers?: Record<string, string> };
  expect: number;
}

const png = media.png(200);

const table: Row[] = [
  // No token: 401 everywhere under /v1 (except the signed URLs, whose signature is the credential).
  { caller: 'none', route: 'POST /v1/artifacts', request: () => ({ method: 'POST', path: '/v1/artifacts?artifactType=image', raw: png, headers: { 'content-type': 'image/png' } }), expect: 401 },
  { caller: 'none', route: 'GET /v1/artifacts', request: () => ({ method: 'GET', path: '/v1/artifacts' }), expect: 401 },
  { caller: 'none', route: 'GET /v1/artifacts/{key}', request: (f) => ({ method: 'GET', path: `/v1/artifacts/${f.aliceKey}` }), expect: 401 },
  { caller: 'none', route: 'HEAD /v1/artifacts/{key}', request: (f) => ({ method: 'HEAD', path: `/v1/artifacts/${f.aliceKey}` }), expect: 401 },
  { caller: 'none', route: 'DELETE /v1/artifacts/{key}', request: (f) => ({ method: 'DELETE', path: `/v1/artifacts/${f.aliceKey}` }), expect: 401 },
  { caller: 'none', route: 'GET /v1/info/{key}', request: (f) => ({ method: 'GET', path: `/v1/info/${f.aliceKey}` }), expect: 401 },
  { caller: 'none', route: 'PATCH /v1/info/{key}', request: (f) => ({ method: 'PATCH', path: `/v1/info/${f.aliceKey}`, body: { visibility: 'public' } }), expect: 401 },
  { caller: 'none', route: 'POST /v1/urls', request: (f) => ({ method: 'POST', path: '/v1/urls', body: { keys: [f.aliceKey] } }), expect: 401 },
  { caller: 'none', route: 'POST /v1/uploads', request: () => ({ method: 'POST', path: '/v1/uploads', body: { artifactType: 'image', contentType: 'image/png' } }), expect: 401 },
  { caller: 'none', route: 'POST /v1/uploads/{key}/complete', request: (f) => ({ method: 'POST', path: `/v1/uploads/${f.bobPendingKey}/complete` }), expect: 401 },
  { caller: 'none', route: 'GET /v1/stats', request: () => ({ method: 'GET', path: '/v1/stats' }), expect: 401 },

  // Alice on her own artifacts.
  { caller: 'alice', route: 'POST /v1/artifacts', request: () => ({ method: 'POST', path: '/v1/artifacts?artifactType=image', raw: png, headers: { 'content-type': 'image/png' } }), expect: 201 },
  { caller: 'alice', route: 'GET /v1/artifacts', request: () => ({ method: 'GET', path: '/v1/artifacts' }), expect: 200 },
  { caller: 'alice', route: 'GET /v1/artifacts/{key}', request: (f) => ({ method: 'GET', path: `/v1/artifacts/${f.aliceKey}` }), expect: 200 },
  { caller: 'alice', route: 'HEAD /v1/artifacts/{key}', request: (f) => ({ method: 'HEAD', path: `/v1/artifacts/${f.aliceKey}` }), expect: 200 },
  { caller: 'alice', route: 'GET /v1/info/{key}', request: (f) => ({ method: 'GET', path: `/v1/info/${f.aliceKey}` }), expect: 200 },
  { caller: 'alice', route: 'PATCH /v1/info/{key}', request: (f) => ({ method: 'PATCH', path: `/v1/info/${f.aliceKey}`, body: { visibility: 'private' } }), expect: 200 },
  { caller: 'alice', route: 'POST /v1/urls', request: (f) => ({ method: 'POST', path: '/v1/urls', body: { keys: [f.aliceKey] } }), expect: 200 },
  { caller: 'alice', route: 'POST /v1/uploads', request: () => ({ method: 'POST', path: '/v1/uploads', body: { artifactType: 'image', contentType: 'image/png' } }), expect: 201 },
  { caller: 'alice', route: 'GET /v1/stats', request: () => ({ method: 'GET', path: '/v1/stats' }), expect: 200 },
  { caller: 'alice', route: 'DELETE /v1/artifacts/{key}', request: async (f) => ({ method: 'DELETE', path: `/v1/artifacts/${await f.aliceDisposable()}` }), expect: 204 },

  // Alice on bob's artifacts: exactly like a missing key.
  { caller: 'alice', route: 'GET /v1/artifacts/{key}', request: (f) => ({ method: 'GET', path: `/v1/artifacts/${f.bobKey}` }), expect: 404 },
  { caller: 'alice', route: 'HEAD /v1/artifacts/{key}', request: (f) => ({ method: 'HEAD', path: `/v1/artifacts/${f.bobKey}` }), expect: 404 },
  { caller: 'alice', route: 'GET /v1/artifacts/{key} (missing)', request: (f) => ({ method: 'GET', path: `/v1/artifacts/${f.missingAliceKey}` }), expect: 404 },
  { caller: 'alice', route: 'DELETE /v1/artifacts/{key}', request: (f) => ({ method: 'DELETE', path: `/v1/artifacts/${f.bobKey}` }), expect: 404 },
  { caller: 'alice', route: 'GET /v1/info/{key}', request: (f) => ({ method: 'GET', path: `/v1/info/${f.bobKey}` }), expect: 404 },
  { caller: 'alice', route: 'PATCH /v1/info/{key}', request: (f) => ({ method: 'PATCH', path: `/v1/info/${f.bobKey}`, body: { visibility: 'public' } }), expect: 404 },
  { caller: 'alice', route: 'POST /v1/urls', request: (f) => ({ method: 'POST', path: '/v1/urls', body: { keys: [f.bobKey] } }), expect: 404 },
  { caller: 'alice', route: 'POST /v1/urls (own + other)', request: (f) => ({ method: 'POST', path: '/v1/urls', body: { keys: [f.aliceKey, f.bobKey] } }), expect: 404 },
  { caller: 'alice', route: 'POST /v1/uploads/{key}/complete', request: (f) => ({ method: 'POST', path: `/v1/uploads/${f.bobPendingKey}/complete` }), expect: 404 },
  { caller: 'alice', route: 'GET /v1/artifacts/{key} (temp/)', request: () => ({ method: 'GET', path: '/v1/artifacts/temp/job1/file.png' }), expect: 404 },
  { caller: 'bob', route: 'GET /v1/artifacts/{key}', request: (f) => ({ method: 'GET', path: `/v1/artifacts/${f.aliceKey}` }), expect: 404 },
  { caller: 'bob', route: 'GET /v1/info/{key}', request: (f) => ({ method: 'GET', path: `/v1/info/${f.aliceKey}` }), expect: 404 },

  // Naming another tenant is for service tokens only.
  { caller: 'alice', route: 'GET /v1/artifacts?tenantId=bob', request: () => ({ method: 'GET', path: '/v1/artifacts?tenantId=bob' }), expect: 403 },
  { caller: 'alice', route: 'GET /v1/stats X-Tenant-Id: bob', request: () => ({ method: 'GET', path: '/v1/stats', headers: { 'x-tenant-id': 'bob' } }), expect: 403 },
  { caller: 'alice', route: 'POST /v1/artifacts?tenantId=bob', request: () => ({ method: 'POST', path: '/v1/artifacts?artifactType=image&tenantId=bob', raw: png, headers: { 'content-type': 'image/png' } }), expect: 403 },
  { caller: 'alice', route: 'GET /v1/artifacts/{bob key}?tenantId=bob', request: (f) => ({ method: 'GET', path: `/v1/artifacts/${f.bobKey}?tenantId=bob` }), expect: 403 },

  // A service token acts for any tenant, and only the one it names.
  { caller: 'service', route: 'GET /v1/artifacts/{key}', request: (f) => ({ method: 'GET', path: `/v1/artifacts/${f.bobKey}` }), expect: 200 },
  { caller: 'service', route: 'GET /v1/artifacts', request: () => ({ method: 'GET', path: '/v1/artifacts' }), expect: 401 },
  { caller: 'service', route: 'GET /v1/stats', request: () => ({ method: 'GET', path: '/v1/stats' }), expect: 401 },
  { caller: 'service', route: 'POST /v1/artifacts', request: () => ({ method: 'POST', path: '/v1/artifacts?artifactType=image', raw: png, headers: { 'content-type': 'image/png' } }), expect: 401 },
  { caller: 'service-as-bob', route: 'GET /v1/artifacts', request: () => ({ method: 'GET', path: '/v1/artifacts' }), expect: 200 },
  { caller: 'service-as-bob', route: 'POST /v1/artifacts', request: () => ({ method: 'POST', path: '/v1/artifacts?artifactType=image', raw: png, headers: { 'content-type': 'image/png' } }), expect: 201 },
  { caller: 'service-as-alice', route: 'GET /v1/artifacts/{key}', request: (f) => ({ method: 'GET', path: `/v1/artifacts/${f.bobKey}` }), expect: 404 },
  { caller: 'service-as-alice', route: 'DELETE /v1/artifacts/{key}', request: (f) => ({ method: 'DELETE', path: `/v1/artifacts/${f.bobKey}` }), expect: 404 },
  { caller: 'service-as-alice', route: 'POST /v1/urls', request: (f) => ({ method: 'POST', path: '/v1/urls', body: { keys: [f.bobKey] } }), expect: 404 },
  { caller: 'service-as-bob', route: 'GET /v1/info/{key}', request: (f) => ({ method: 'GET', path: `/v1/info/${f.bobKey}` }), expect: 200 },
  // The trash.
  { caller: 'none', route: 'GET /v1/trash', request: () => ({ method: 'GET', path: '/v1/trash' }), expect: 401 },
  { caller: 'none', route: 'POST /v1/trash/{key}/restore', request: (f) => ({ method: 'POST', path: `/v1/trash/${f.bobTrashedKey}/restore` }), expect: 401 },
  { caller: 'alice', route: 'GET /v1/trash', request: () => ({ method: 'GET', path: '/v1/trash' }), expect: 200 },
  { caller: 'alice', route: 'POST /v1/trash/{key}/restore', request: (f) => ({ method: 'POST', path: `/v1/trash/${f.bobTrashedKey}/restore` }), expect: 404 },
  { caller: 'service-as-alice', route: 'POST /v1/trash/{key}/restore', request: (f) => ({ method: 'POST', path: `/v1/trash/${f.bobTrashedKey}/restore` }), expect: 404 },
  // Lineage, find by id, metadata, the audit trail: another tenant's key is refused like a missing one, or finds nothing.
  { caller: 'none', route: 'GET /v1/audit', request: () => ({ method: 'GET', path: '/v1/audit' }), expect: 401 },
  { caller: 'alice', route: 'GET /v1/audit', request: (f) => ({ method: 'GET', path: `/v1/audit?key=${f.aliceKey}` }), expect: 200 },
  { caller: 'alice', route: 'GET /v1/audit?tenantId=bob', request: () => ({ method: 'GET', path: '/v1/audit?tenantId=bob' }), expect: 403 },
  { caller: 'service', route: 'GET /v1/audit', request: () => ({ method: 'GET', path: '/v1/audit' }), expect: 401 },
  { caller: 'service-as-bob', route: 'GET /v1/audit', request: (f) => ({ method: 'GET', path: `/v1/audit?key=${f.bobKey}` }), expect: 200 },
  { caller: 'alice', route: 'POST /v1/artifacts?input={own key}', request: (f) => ({ method: 'POST', path: `/v1/artifacts?artifactType=image&input=${f.aliceKey}`, raw: png, headers: { 'content-type': 'image/png' } }), expect: 201 },
  { caller: 'alice', route: 'POST /v1/artifacts?input={bob key}', request: (f) => ({ method: 'POST', path: `/v1/artifacts?artifactType=image&input=${f.bobKey}`, raw: png, headers: { 'content-type': 'image/png' } }), expect: 400 },
  { caller: 'alice', route: 'POST /v1/artifacts?input={missing}', request: (f) => ({ method: 'POST', path: `/v1/artifacts?artifactType=image&input=${f.missingAliceKey}`, raw: png, headers: { 'content-type': 'image/png' } }), expect: 400 },
  { caller: 'alice', route: 'POST /v1/uploads inputs:[bob key]', request: (f) => ({ method: 'POST', path: '/v1/uploads', body: { artifactType: 'image', contentType: 'image/png', inputs: [f.bobKey] } }), expect: 400 },
  { caller: 'alice', route: 'GET /v1/artifacts?input={bob key}', request: (f) => ({ method: 'GET', path: `/v1/artifacts?input=${f.bobKey}` }), expect: 200 },
  { caller: 'alice', route: 'GET /v1/artifacts?artifactId=', request: () => ({ method: 'GET', path: '/v1/artifacts?artifactId=fixture' }), expect: 200 },
  { caller: 'alice', route: 'PATCH /v1/info/{key} metadata', request: (f) => ({ method: 'PATCH', path: `/v1/info/${f.aliceKey}`, body: { metadata: { seen: true } } }), expect: 200 },
  { caller: 'alice', route: 'PATCH /v1/info/{bob key} metadata', request: (f) => ({ method: 'PATCH', path: `/v1/info/${f.bobKey}`, body: { metadata: { seen: true } } }), expect: 404 },
  { caller: 'service-as-alice', route: 'PATCH /v1/info/{bob key} metadata', request: (f) => ({ method: 'PATCH', path: `/v1/info/${f.bobKey}`, body: { metadata: { seen: true } } }), expect: 404 },
];

// Every server is started before any test is registered: the root's `after` hooks (which close
// them) must not run while a later server is still starting.
const suites: (() => unknown)[] = []; // describe() returns a promise node:test tracks itself
for (const database of testDatabases) {
  // One server for the whole table, started before the tests (hooks' `after` would close it early).
  const server: TestServer = await startTestServer({ database });
  const auth: Partial<Record<Caller, Record<string, string>>> = {};
  auth.none = {};
  auth.alice = await server.as('alice');
  auth.bob = await server.as('bob');
  const service = { authorization: `Bearer ${await server.token({ role: 'service', sub: 'worker' })}` };
  auth.service = service;
  auth['service-as-alice'] = { ...service, 'x-tenant-id': 'alice' };
  auth['service-as-bob'] = { ...service, 'x-tenant-id': 'bob' };
  const alice = await server.put('alice', png, 'image/png', { boardId: 'b1' });
  const bob = await server.put('bob', png, 'image/png', { boardId: 'b1' });
  const pending = await (await fetch(`${server.url}/v1/uploads`, { method: 'POST', headers: { ...auth.bob, 'content-type': 'application/json' }, body: JSON.stringify({ artifactType: 'image', contentType: 'image/png' }) })).json() as { storageKey: string; url: string };
  const put = await fetch(pending.url, { method: 'PUT', headers: { 'content-type': 'image/png' }, body: png });
  assert.equal(put.status, 204);
  const fixtures: Fixtures = {
    aliceKey: alice.storageKey,
    bobKey: bob.storageKey,
    bobPendingKey: pending.storageKey,
    missingAliceKey: alice.storageKey.replace(/_[0-9a-f]{8}\//, '_00000000/'),
    aliceDisposable: async () => (await server.put('alice', png, 'image/png')).storageKey,
    bobTrashedKey: await (async () => {
      const key = (await server.put('bob', png, 'image/png')).storageKey;
      await server.storage.deleteArtifact(key);
      return key;
    })(),
  };

  suites.push(() => describe(`tenant isolation on ${database.name}: caller x route x status`, () => {
    for (const row of table) {
      it(`${row.caller.padEnd(16)} ${row.route} -> ${row.expect}`, async () => {
        const req = await row.request(fixtures);
        const headers: Record<string, string> = { ...auth[row.caller], ...req.headers };
        let body: Uint8Array | string | undefined;
        if (req.raw) body = req.raw;
        else if (req.body !== undefined) {
          body = JSON.stringify(req.body);
          headers['content-type'] = 'application/json';
        }
        const res = await fetch(`${server.url}${req.path}`, { method: req.method, headers, ...(body === undefined ? {} : { body }) });
        const text = await res.text();
        assert.equal(res.status, row.expect, text);
        if (res.status >= 400 && req.method !== 'HEAD') {
          const error = JSON.parse(text) as { error: { code: string; message: string } };
          assert.equal(typeof error.error.code, 'string');
          if (res.status === 404) assert.equal(error.error.code, 'NOT_FOUND');
          if (res.status === 401) assert.match(error.error.code, /^(UNAUTHENTICATED|TENANT_REQUIRED)$/);
        }
      });
    }

    it('answers another tenant\'s key with the same body as a missing one', async () => {
      const other = await fetch(`${server.url}/v1/info/${fixtures.bobKey}`, { headers: auth.alice! });
      const missing = await fetch(`${server.url}/v1/info/${fixtures.missingAliceKey}`, { headers: auth.alice! });
      const shape = (b: { error: { code: string; message: string } }, key: string) => ({ code: b.error.code, message: b.error.message.replace(key, 'KEY') });
      assert.deepEqual(shape(await other.json() as never, fixtures.bobKey), shape(await missing.json() as never, fixtures.missingAliceKey));
    });

    it('lists, counts and completes only within the caller\'s tenant', async () => {
      const list = await (await fetch(`${server.url}/v1/artifacts?limit=1000`, { headers: auth.alice! })).json() as { items: { tenantId: string; storageKey: string }[] };
      assert.ok(list.items.length > 0);
      assert.ok(list.items.every((i) => i.tenantId === 'alice' && i.storageKey.startsWith('alice/')));
      const prefixed = await (await fetch(`${server.url}/v1/artifacts?prefix=image/`, { headers: auth.bob! })).json() as { items: { tenantId: string }[] };
      assert.ok(prefixed.items.every((i) => i.tenantId === 'bob'));
      const stats = await (await fetch(`${server.url}/v1/stats`, { headers: auth.alice! })).json() as { tenantId: string; total: { count: number } };
      assert.equal(stats.tenantId, 'alice');
      assert.equal(stats.total.count, list.items.length);
      // Bob's artifact survived alice's and the misdirected service's deletes; bob completes his own upload.
      assert.equal((await fetch(`${server.url}/v1/info/${fixtures.bobKey}`, { headers: auth.bob! })).status, 200);
      const completed = await fetch(`${server.url}/v1/uploads/${fixtures.bobPendingKey}/complete`, { method: 'POST', headers: auth.bob! });
      assert.equal(completed.status, 201, await completed.clone().text());
      assert.equal((await completed.json() as { tenantId: string }).tenantId, 'bob');
    });
  }));
}
for (const suite of suites) suite();
