import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { media } from '../fixtures/media.ts';
import { jsonHeaders, startTestServer } from './server-harness.ts';
import { KeepAliveClient } from './keep-alive-client.ts';

/**
 * A presigned direct upload is good for one upload, and a completed artifact is immutable: the
 * tenant byte swap found by attacking the service (a second PUT racing /complete renamed other
 * bytes over a recorded artifact), replayed step by step against the local provider over HTTP.
 */

const server = await startTestServer({ storage: { max_file_size: 1_000_000 } });
const alice = await server.as('alice');
const bob = await server.as('bob');
const host = new URL(server.url).host;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function presign(auth: Record<string, string>, body: Record<string, unknown>): Promise<{ url: string; headers: Record<string, string>; storageKey: string }> {
  const res = await fetch(`${server.url}/v1/uploads`, { method: 'POST', headers: jsonHeaders(auth), body: JSON.stringify(body) });
  assert.equal(res.status, 201, await res.clone().text());
  return res.json() as never;
}

function complete(auth: Record<string, string>, key: string): Promise<Response> {
  return fetch(`${server.url}/v1/uploads/${key}/complete`, { method: 'POST', headers: auth });
}

/** A PUT whose body is sent in two halves, the second when `finish` is called. */
async function slowPut(url: string, contentType: string, body: Uint8Array): Promise<{ finish: () => Promise<number | undefined>; client: KeepAliveClient }> {
  const u = new URL(url);
  const client = await KeepAliveClient.open(server.url);
  const half = Math.floor(body.length / 2);
  await client.write(`PUT ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`);
  await client.write(body.subarray(0, half));
  return {
    client,
    finish: async () => {
      await client.write(body.subarray(half));
      const answer = await client.response(5000);
      client.close();
      return answer?.status;
    },
  };
}

async function bytesOf(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

describe('a presigned direct upload', () => {
  it('cannot swap the bytes another tenant downloads (the attack, step by step)', async () => {
    const x = media.png(20_000);
    const y = Buffer.from(x);
    y[y.length - 100] = y[y.length - 100]! ^ 0xff; // same size, same signature, other bytes
    // 1. B stores X.
    const stored = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { ...bob, 'content-type': 'image/png' }, body: x });
    assert.equal(stored.status, 201);
    const bRef = await stored.json() as { storageKey: string; sha256: string };
    // 2. A presigns and PUTs X.
    const upload = await presign(alice, { artifactType: 'image', contentType: 'image/png', size: x.length });
    const first = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: x });
    assert.equal(first.status, 204);
    // 3. A starts a second PUT of Y on the same URL, and calls /complete while it runs.
    const second = await slowPut(upload.url, 'image/png', y);
    const completed = await complete(alice, upload.storageKey);
    assert.equal(completed.status, 201, await completed.clone().text());
    const aRef = await completed.json() as { sha256: string; size: number };
    // Completion recorded what landed: the hash of the bytes as they arrived.
    assert.equal(aRef.sha256, sha256(x));
    assert.equal(aRef.size, x.length);
    // 4. The late PUT is refused; nothing was renamed over the recorded artifact.
    const lateStatus = await second.finish();
    assert.ok(lateStatus === undefined || lateStatus === 409 || lateStatus === 404, `the racing PUT was answered ${lateStatus}`);
    // 5. A downloads its own artifact once (filling the cache), then B's GET and signed URL still return X.
    assert.deepEqual(await bytesOf(await fetch(`${server.url}/v1/artifacts/${upload.storageKey}`, { headers: alice })), x);
    assert.deepEqual(await bytesOf(await fetch(`${server.url}/v1/artifacts/${bRef.storageKey}`, { headers: bob })), x);
    const signed = await fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(bob), body: JSON.stringify({ keys: [bRef.storageKey] }) });
    const bUrl = (await signed.json() as { urls: { url: string }[] }).urls[0]!.url;
    assert.deepEqual(await bytesOf(await fetch(bUrl)), x);
    // And the bytes on disk under A's key are X.
    assert.equal(sha256(await server.storage.download(upload.storageKey)), sha256(x));
  });

  it('refuses a PUT after completion (409), and a second completion', async () => {
    const x = media.png(3000);
    const upload = await presign(alice, { artifactType: 'image', contentType: 'image/png', size: x.length });
    assert.equal((await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: x })).status, 204);
    const again = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: x });
    assert.equal(again.status, 409, 'a second PUT before completion');
    assert.match(((await again.json()) as { error: { message: string } }).error.message, /good for one upload/);
    assert.equal((await complete(alice, upload.storageKey)).status, 201);
    const after = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: media.png(3000) });
    assert.ok(after.status === 404 || after.status === 409, `a PUT after completion was answered ${after.status}`);
    assert.notEqual((await complete(alice, upload.storageKey)).status, 201);
    assert.deepEqual(Buffer.from(await server.storage.download(upload.storageKey)), x);
  });

  it('refuses /complete while its PUT is under way (409), then records it once it has landed', async () => {
    const x = media.png(30_000);
    const upload = await presign(alice, { artifactType: 'image', contentType: 'image/png', size: x.length });
    const put = await slowPut(upload.url, 'image/png', x);
    // The slow PUT holds the upload once its body has started arriving.
    await new Promise((r) => setTimeout(r, 200));
    const early = await complete(alice, upload.storageKey);
    assert.equal(early.status, 409, await early.clone().text());
    assert.equal(await put.finish(), 204);
    const done = await complete(alice, upload.storageKey);
    assert.equal(done.status, 201);
    assert.equal((await done.json() as { sha256: string }).sha256, sha256(x));
  });

  it('takes exactly the signed byte count: fewer bytes are refused (400 SIZE_MISMATCH), and the URL can then be used', async () => {
    const body = Buffer.from('0123456789');
    const upload = await presign(alice, { artifactType: 'text', contentType: 'text/plain', size: 10 });
    const short = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: body.subarray(0, 9) });
    assert.equal(short.status, 400);
    assert.equal(((await short.json()) as { error: { code: string } }).error.code, 'SIZE_MISMATCH');
    assert.equal((await complete(alice, upload.storageKey)).status, 404, 'nothing landed');
    assert.deepEqual(await readdir(join(server.filesDir, '~tmp')), []);
    assert.equal((await fetch(upload.url, { method: 'PUT', headers: upload.headers, body })).status, 204);
    const done = await complete(alice, upload.storageKey);
    assert.equal(done.status, 201);
    assert.equal((await done.json() as { size: number }).size, 10);
  });
});
