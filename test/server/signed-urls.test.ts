import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { media } from '../fixtures/media.ts';
import { jsonHeaders, rawRequest, startTestServer } from './server-harness.ts';

/** /v1/signed/{key}: the local provider's signed URLs, the signature being the only credential. */

const server = await startTestServer({ storage: { max_file_size: 100_000 } });
const alice = await server.as('alice');
const png = media.png(4000);
const ref = await server.put('alice', png, 'image/png');

async function signedUrl(key: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(alice), body: JSON.stringify({ keys: [key], ...body }) });
  assert.equal(res.status, 200);
  return (await res.json() as { urls: { url: string }[] }).urls[0]!.url;
}

async function presign(body: Record<string, unknown>): Promise<{ url: string; method: string; headers: Record<string, string>; storageKey: string }> {
  const res = await fetch(`${server.url}/v1/uploads`, { method: 'POST', headers: jsonHeaders(alice), body: JSON.stringify(body) });
  assert.equal(res.status, 201, await res.clone().text());
  return res.json() as never;
}

function pathOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

describe('signed downloads', () => {
  it('point at this server and stream without other credentials, with Range and the file name', async () => {
    const url = await signedUrl(ref.storageKey, { filename: 'fox.png', expiresIn: 60 });
    assert.ok(url.startsWith(`${server.url}/v1/signed/${ref.storageKey}?`));
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-disposition'), 'attachment; filename=fox.png');
    assert.equal(res.headers.get('etag'), `"${ref.sha256}"`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), png);
    const ranged = await fetch(url, { headers: { range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.deepEqual(Buffer.from(await ranged.arrayBuffer()), png.subarray(10, 20));
    const head = await rawRequest(server.url, 'HEAD', pathOf(url));
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(png.length));
  });

  it('refuse tampered, expired, incomplete and wrong-method signatures with 403', async () => {
    const url = new URL(await signedUrl(ref.storageKey));
    const other = await server.put('alice', media.png(50), 'image/png');
    const cases: [string, string, string][] = [
      ['GET', url.pathname.replace(ref.storageKey, other.storageKey) + url.search, 'another key'],
      ['GET', url.pathname + url.search.replace(/exp=\d+/, 'exp=9999999999'), 'a longer expiry'],
      ['GET', url.pathname + url.search.replace(/sig=[^&]+/, 'sig=AAAA'), 'another signature'],
      ['GET', url.pathname + url.search + '&fn=evil.html', 'an added file name'],
      ['GET', url.pathname + url.search.replace(/&?sig=[^&]+/, ''), 'no signature'],
      ['GET', url.pathname, 'no query at all'],
      ['PUT', url.pathname + url.search, 'another method'],
      ['DELETE', url.pathname + url.search, 'a method with no route'],
    ];
    for (const [method, path, label] of cases) {
      const res = await rawRequest(server.url, method, path, method === 'PUT' ? { 'content-type': 'image/png' } : {}, method === 'PUT' ? png : undefined);
      assert.equal(res.status, method === 'DELETE' ? 404 : 403, `${label}: ${res.status} ${res.body.toString()}`);
    }
    const expired = new URL(await signedUrl(ref.storageKey, { expiresIn: 1 }));
    await new Promise((r) => setTimeout(r, 2100));
    const res = await rawRequest(server.url, 'GET', expired.pathname + expired.search);
    assert.equal(res.status, 403);
    assert.match(JSON.parse(res.body.toString()).error.message, /expired/);
  });
});

describe('presigned direct uploads through the signed PUT', () => {
  it('receive the body, then POST /v1/uploads/{key}/complete records it', async () => {
    const upload = await presign({ artifactType: 'image', contentType: 'image/png', artifactId: 'direct', boardId: 'b9' });
    assert.equal(upload.method, 'PUT');
    assert.match(upload.storageKey, /^alice\/image\/b9\/direct_/);
    const put = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: png });
    assert.equal(put.status, 204);
    const completed = await fetch(`${server.url}/v1/uploads/${upload.storageKey}/complete`, { method: 'POST', headers: alice });
    assert.equal(completed.status, 201, await completed.clone().text());
    const recorded = await completed.json() as { storageKey: string; size: number; sha256: string };
    assert.equal(recorded.size, png.length);
    assert.equal(recorded.sha256, ref.sha256);
    const back = await fetch(`${server.url}/v1/artifacts/${upload.storageKey}`, { headers: alice });
    assert.deepEqual(Buffer.from(await back.arrayBuffer()), png);
  });

  it('complete answers 404 when nothing landed', async () => {
    const upload = await presign({ artifactType: 'image', contentType: 'image/png' });
    const res = await fetch(`${server.url}/v1/uploads/${upload.storageKey}/complete`, { method: 'POST', headers: alice });
    assert.equal(res.status, 404);
    const noSuffix = await fetch(`${server.url}/v1/uploads/${upload.storageKey}`, { method: 'POST', headers: alice });
    assert.equal(noSuffix.status, 404);
  });

  it('refuse another Content-Type (403), a body over the signed size (413) and lying bytes (415), keeping nothing', async () => {
    const upload = await presign({ artifactType: 'image', contentType: 'image/png', size: 1000 });
    const wrongType = await fetch(upload.url, { method: 'PUT', headers: { 'content-type': 'image/gif' }, body: media.gif(100) });
    assert.equal(wrongType.status, 403);
    const tooBig = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: media.png(1001) }).catch((e: Error) => e);
    if (tooBig instanceof Response) assert.equal(tooBig.status, 413);
    const chunked = new ReadableStream({ start(c) { const b = media.png(5000); for (let i = 0; i < b.length; i += 500) c.enqueue(b.subarray(i, i + 500)); c.close(); } });
    const tooBigStreamed = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: chunked, duplex: 'half' } as RequestInit).catch((e: Error) => e);
    if (tooBigStreamed instanceof Response) assert.equal(tooBigStreamed.status, 413);
    const lying = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: 'not a png at all' });
    assert.equal(lying.status, 415);
    assert.deepEqual(await readdir(join(server.filesDir, '~tmp')), []);
    const completed = await fetch(`${server.url}/v1/uploads/${upload.storageKey}/complete`, { method: 'POST', headers: alice });
    assert.equal(completed.status, 404);
  });

  it('refuse a PUT for a key nobody presigned (404 after a valid signature is impossible: 403)', async () => {
    const upload = await presign({ artifactType: 'image', contentType: 'image/png' });
    const u = new URL(upload.url);
    const res = await rawRequest(server.url, 'PUT', u.pathname.replace('image/', 'video/') + u.search, { 'content-type': 'image/png' }, png);
    assert.equal(res.status, 403);
  });
});
