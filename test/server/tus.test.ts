import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as tus from 'tus-js-client';
import { media } from '../fixtures/media.ts';
import { filesUnder, storedFiles } from '../helpers.ts';
import { eventually, startTestServer } from './server-harness.ts';

/** TUS 1.0 at /v1/uploads/tus against a real server over loopback, with tus-js-client and raw requests. */

function metadataHeader(meta: Record<string, string>): string {
  return Object.entries(meta).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(',');
}

const TUS = { 'tus-resumable': '1.0.0' };

function tusUpload(url: string, bytes: Buffer, auth: Record<string, string>, metadata: Record<string, string>, chunkSize: number): Promise<{ storageKey: string | null; body: string }> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(bytes, {
      endpoint: `${url}/v1/uploads/tus`, chunkSize, metadata, headers: auth, retryDelays: [],
      onSuccess: (payload) => resolve({ storageKey: payload.lastResponse.getHeader('Storage-Key') ?? null, body: payload.lastResponse.getBody() }),
      onError: reject,
    });
    upload.start();
  });
}

describe('TUS uploads', async () => {
  const server = await startTestServer({ server: { tus: { expiration: '2s' } } });
  const tusDir = join(server.dataDir, 'tus');
  const alice = await server.as('alice');

  it('uploads in chunks with tus-js-client; the finished upload is stored with its SHA-256 and nothing stays in the upload directory', async () => {
    const png = Buffer.concat([media.png(), randomBytes(300_000)]);
    const result = await tusUpload(server.url, png, alice, { artifactType: 'image', contentType: 'image/png', boardId: 'b1', artifactId: 'fox', filename: 'fox.png' }, 64 * 1024);
    assert.ok(result.storageKey);
    assert.match(result.storageKey, /^alice\/image\/b1\/fox_\d{14}_[0-9a-f]{8}\/original\.png$/);
    const ref = JSON.parse(result.body) as { sha256: string; size: number; metadata: { filename: string } };
    assert.equal(ref.sha256, createHash('sha256').update(png).digest('hex'));
    assert.equal(ref.size, png.length);
    assert.equal(ref.metadata.filename, 'fox.png');
    const got = await fetch(`${server.url}/v1/artifacts/${result.storageKey}`, { headers: alice });
    assert.equal(got.status, 200);
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), png);
    // The partial file goes once the answer is written.
    assert.ok(await eventually(async () => (await filesUnder(tusDir)).length === 0));
  });

  it('creation-with-upload: one POST carries the whole artifact and answers with its storage key', async () => {
    const body = Buffer.from('{"prompt":"a fox"}');
    const res = await fetch(`${server.url}/v1/uploads/tus`, {
      method: 'POST',
      headers: { ...alice, ...TUS, 'upload-length': String(body.length), 'upload-metadata': metadataHeader({ artifactType: 'text', contentType: 'application/json' }), 'content-type': 'application/offset+octet-stream' },
      body,
    });
    assert.equal(res.status, 201, await res.clone().text());
    const key = res.headers.get('storage-key')!;
    assert.match(key, /^alice\/text\//);
    assert.equal(res.headers.get('upload-offset'), String(body.length));
    const got = await fetch(`${server.url}/v1/artifacts/${key}`, { headers: alice });
    assert.equal(await got.text(), body.toString());
    assert.ok(await eventually(async () => (await filesUnder(tusDir)).length === 0));
  });

  it('a finished upload that fails the checks (declared PNG, is text) is refused with 415 and leaves nothing: no object, no record, no partial file', async () => {
    const before = await storedFiles(server.filesDir);
    await assert.rejects(
      tusUpload(server.url, Buffer.from('not a png at all '.repeat(100)), alice, { artifactType: 'image', contentType: 'image/png', artifactId: 'fake' }, 512),
      (error: Error & { originalResponse?: { getStatus(): number; getBody(): string } }) => {
        assert.equal(error.originalResponse?.getStatus(), 415);
        assert.match(error.originalResponse!.getBody(), /CONTENT_MISMATCH/);
        return true;
      },
    );
    assert.deepEqual(await storedFiles(server.filesDir), before);
    assert.deepEqual(await filesUnder(tusDir), []);
    const list = await (await fetch(`${server.url}/v1/artifacts?prefix=image/`, { headers: alice })).json() as { items: { artifactId: string }[] };
    assert.equal(list.items.some((i) => i.artifactId === 'fake'), false);
  });

  it('refuses at creation what would be refused at the end: a type not allowed, a length over max_file_size, missing or unsafe metadata', async () => {
    const create = (meta: Record<string, string>, length: number) => fetch(`${server.url}/v1/uploads/tus`, { method: 'POST', headers: { ...alice, ...TUS, 'upload-length': String(length), 'upload-metadata': metadataHeader(meta) } });
    const notAllowed = await create({ artifactType: 'text', contentType: 'application/x-msdownload' }, 10);
    assert.equal(notAllowed.status, 415);
    assert.match(await notAllowed.text(), /CONTENT_TYPE_NOT_ALLOWED/);
    assert.equal((await create({ artifactType: 'text', contentType: 'image/png' }, server.storage.config.maxFileSize + 1)).status, 413);
    assert.equal((await create({ contentType: 'image/png' }, 10)).status, 400);
    const unsafe = await create({ artifactType: 'image', contentType: 'image/png', boardId: '../etc' }, 10);
    assert.equal(unsafe.status, 400);
    assert.match(await unsafe.text(), /SECURITY_VIOLATION/);
    assert.deepEqual(await filesUnder(tusDir), []);
  });

  it('termination: DELETE removes a partial upload; HEAD then finds nothing', async () => {
    const created = await fetch(`${server.url}/v1/uploads/tus`, { method: 'POST', headers: { ...alice, ...TUS, 'upload-length': '1000', 'upload-metadata': metadataHeader({ artifactType: 'text', contentType: 'text/plain' }) } });
    assert.equal(created.status, 201);
    const location = new URL(created.headers.get('location')!, server.url).toString();
    const patched = await fetch(location, { method: 'PATCH', headers: { ...alice, ...TUS, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, body: Buffer.alloc(400, 97) });
    assert.equal(patched.status, 204);
    assert.equal(patched.headers.get('upload-offset'), '400');
    assert.ok(patched.headers.get('upload-expires'));
    const head = await fetch(location, { method: 'HEAD', headers: { ...alice, ...TUS } });
    assert.equal(head.headers.get('upload-offset'), '400');
    assert.equal((await fetch(location, { method: 'DELETE', headers: { ...alice, ...TUS } })).status, 204);
    assert.equal((await fetch(location, { method: 'HEAD', headers: { ...alice, ...TUS } })).status, 404);
    assert.deepEqual(await filesUnder(tusDir), []);
  });

  it('tenancy: another tenant cannot see, append to or terminate an upload; no token is a 401', async () => {
    const created = await fetch(`${server.url}/v1/uploads/tus`, { method: 'POST', headers: { ...alice, ...TUS, 'upload-length': '10', 'upload-metadata': metadataHeader({ artifactType: 'text', contentType: 'text/plain' }) } });
    const location = new URL(created.headers.get('location')!, server.url).toString();
    assert.match(location, /\/v1\/uploads\/tus\/alice_[0-9a-f]{32}$/);
    const bob = await server.as('bob');
    assert.equal((await fetch(location, { method: 'HEAD', headers: { ...bob, ...TUS } })).status, 404);
    assert.equal((await fetch(location, { method: 'PATCH', headers: { ...bob, ...TUS, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, body: Buffer.alloc(10, 97) })).status, 404);
    assert.equal((await fetch(location, { method: 'DELETE', headers: { ...bob, ...TUS } })).status, 404);
    assert.equal((await fetch(location, { method: 'HEAD', headers: TUS })).status, 401);
    assert.equal((await fetch(`${server.url}/v1/uploads/tus`, { method: 'POST', headers: { ...TUS, 'upload-length': '10' } })).status, 401);
    // Alice's upload is untouched.
    const head = await fetch(location, { method: 'HEAD', headers: { ...alice, ...TUS } });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('upload-offset'), '0');
    // A service token acts for the upload's tenant.
    const service = { authorization: `Bearer ${await server.token({ role: 'service', sub: 'ops' })}` };
    assert.equal((await fetch(location, { method: 'DELETE', headers: { ...service, ...TUS } })).status, 204);
  });

  it('expiration: an upload unfinished past server.tus.expiration is swept, with its partial file', async () => {
    const created = await fetch(`${server.url}/v1/uploads/tus`, { method: 'POST', headers: { ...alice, ...TUS, 'upload-length': '1000', 'upload-metadata': metadataHeader({ artifactType: 'text', contentType: 'text/plain' }), 'content-type': 'application/offset+octet-stream' }, body: Buffer.alloc(100, 97) });
    assert.equal(created.status, 201);
    assert.ok(created.headers.get('upload-expires'));
    const location = new URL(created.headers.get('location')!, server.url).toString();
    assert.equal((await filesUnder(tusDir)).length, 2); // the partial file and its info
    const uploads = server.tus;
    assert.equal(await uploads.sweepExpired(), 0);
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await fetch(location, { method: 'HEAD', headers: { ...alice, ...TUS } })).status, 410);
    assert.equal(await uploads.sweepExpired(), 1);
    assert.deepEqual(await filesUnder(tusDir), []);
    assert.equal((await fetch(location, { method: 'HEAD', headers: { ...alice, ...TUS } })).status, 404);
  });
});
