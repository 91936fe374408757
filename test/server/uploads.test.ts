import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { media } from '../fixtures/media.ts';
import { eventually, objectFilesMatchCatalog, socketExchange, startTestServer } from './server-harness.ts';
import { testDatabases } from '../catalog/databases.ts';

/** Uploads stream to the provider; every failure, wherever it happens, leaves nothing behind. */

// Every server is started before any test is registered: the root's `after` hooks (which close
// them) must not run while a later server is still starting.
const suites: (() => unknown)[] = []; // describe() returns a promise node:test tracks itself
for (const database of testDatabases) {
  const LIMIT = 256 * 1024;
  const server = await startTestServer({ storage: { max_file_size: LIMIT }, database });
  const alice = await server.as('alice');
  const host = new URL(server.url).host;

  const objects = () => objectFilesMatchCatalog(server, 'alice');

  async function tempFiles(): Promise<string[]> {
    return readdir(join(server.filesDir, '~tmp')).catch(() => []);
  }

  /** Nothing new stored and nothing left in ~tmp, once the server has cleaned up. */
  async function assertNothingLeft(before: string[]): Promise<void> {
    assert.ok(await eventually(async () => (await tempFiles()).length === 0), `~tmp is not empty: ${(await tempFiles()).join(', ')}`);
    assert.deepEqual(await objects(), before);
  }

  function multipart(boundary: string, parts: { name: string; filename?: string; type?: string; body: Uint8Array | string }[], close = true): Buffer {
    const chunks: Buffer[] = [];
    for (const p of parts) {
      const disposition = `form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}`;
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`));
      chunks.push(Buffer.from(p.body));
      chunks.push(Buffer.from('\r\n'));
    }
    if (close) chunks.push(Buffer.from(`--${boundary}--\r\n`));
    return Buffer.concat(chunks);
  }

  suites.push(() => describe(`POST /v1/artifacts on ${database.name}`, () => {
    it('stores a raw body whose Content-Type is the artifact\'s, with the query\'s ids', async () => {
      const png = media.png(5000);
      const res = await fetch(`${server.url}/v1/artifacts?artifactType=image&artifactId=fox&boardId=b1&variant=thumb&visibility=public`, { method: 'POST', headers: { ...alice, 'content-type': 'image/png' }, body: png });
      assert.equal(res.status, 201);
      const ref = await res.json() as { storageKey: string; size: number; sha256: string; visibility: string; boardId: string };
      assert.match(ref.storageKey, /^alice\/image\/b1\/fox_\d{14}_[0-9a-f]{8}\/thumb\.png$/);
      assert.equal(ref.size, 5000);
      assert.equal(ref.sha256, createHash('sha256').update(png).digest('hex'));
      assert.equal(ref.visibility, 'public');
      assert.equal(res.headers.get('location'), `/v1/info/${ref.storageKey}`);
      assert.ok((await objects()).includes(ref.storageKey));
    });

    it('stores a multipart file part, naming the artifact after the file', async () => {
      const form = new FormData();
      form.append('file', new Blob([media.gif(300)], { type: 'image/gif' }), 'cat picture.gif');
      const res = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: alice, body: form });
      assert.equal(res.status, 201);
      const ref = await res.json() as { storageKey: string; artifactId: string; contentType: string; size: number };
      assert.equal(ref.artifactId, 'cat-picture');
      assert.equal(ref.contentType, 'image/gif');
      assert.equal(ref.size, 300);
    });

    it('gives an artifact without an id a random one', async () => {
      const res = await fetch(`${server.url}/v1/artifacts?artifactType=text`, { method: 'POST', headers: { ...alice, 'content-type': 'text/plain; charset=utf-8' }, body: 'hello' });
      assert.equal(res.status, 201);
      assert.match((await res.json() as { artifactId: string }).artifactId, /^[0-9a-f-]{36}$/);
    });

    it('streams a chunked body of unknown length', async () => {
      const png = media.png(LIMIT - 1);
      const body = new ReadableStream({ start(c) { for (let i = 0; i < png.length; i += 10_000) c.enqueue(png.subarray(i, i + 10_000)); c.close(); } });
      const res = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { ...alice, 'content-type': 'image/png' }, body, duplex: 'half' } as RequestInit);
      assert.equal(res.status, 201);
      assert.equal((await res.json() as { size: number }).size, LIMIT - 1);
    });

    it('refuses a body over the limit while streaming (413) and keeps nothing', async () => {
      const before = await objects();
      const png = media.png(LIMIT + 1);
      const body = new ReadableStream({ start(c) { for (let i = 0; i < png.length; i += 16_384) c.enqueue(png.subarray(i, i + 16_384)); c.close(); } });
      const res = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { ...alice, 'content-type': 'image/png' }, body, duplex: 'half' } as RequestInit).catch((e: Error) => e);
      if (res instanceof Response) {
        assert.equal(res.status, 413);
        assert.equal((await res.json() as { error: { code: string } }).error.code, 'CONTENT_TOO_LARGE');
      }
      await assertNothingLeft(before);
    });

    it('refuses a declared Content-Length over the limit before reading (413)', async () => {
      const before = await objects();
      const answer = await socketExchange(server.url, `POST /v1/artifacts?artifactType=image HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${alice.authorization}\r\nContent-Type: image/png\r\nContent-Length: ${LIMIT * 4}\r\nConnection: close\r\n\r\n`, media.png(1000), { destroyAfterMs: 500 });
      assert.match(answer, /^HTTP\/1\.1 413 /);
      await assertNothingLeft(before);
    });

    it('refuses a multipart file over the limit (413) and keeps nothing', async () => {
      const before = await objects();
      const form = new FormData();
      form.append('file', new Blob([media.png(LIMIT + 10)], { type: 'image/png' }), 'big.png');
      const res = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: alice, body: form });
      assert.equal(res.status, 413);
      await assertNothingLeft(before);
    });

    it('refuses bytes that are not what the Content-Type says (415)', async () => {
      const before = await objects();
      const res = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { ...alice, 'content-type': 'image/png' }, body: 'this is text, not a PNG' });
      assert.equal(res.status, 415);
      assert.equal((await res.json() as { error: { code: string } }).error.code, 'CONTENT_MISMATCH');
      const disallowed = await fetch(`${server.url}/v1/artifacts?artifactType=page`, { method: 'POST', headers: { ...alice, 'content-type': 'text/html' }, body: '<html></html>' });
      assert.equal(disallowed.status, 415);
      assert.equal((await disallowed.json() as { error: { code: string } }).error.code, 'CONTENT_TYPE_NOT_ALLOWED');
      const missing = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: alice, body: new Uint8Array(media.png(100)) });
      assert.ok([400, 415].includes(missing.status), String(missing.status));
      await assertNothingLeft(before);
    });

    for (const [field, query] of [
      ['artifactId', 'artifactType=image&artifactId=..'],
      ['artifactId', 'artifactType=image&artifactId=a%2Fb'],
      ['boardId', 'artifactType=image&boardId=..%2F..%2Fetc'],
      ['variant', 'artifactType=image&variant=%2e%2e'],
      ['artifactType', 'artifactType=im%5Cage'],
      ['artifactType', ''],
    ] as const) {
      it(`refuses an unsafe or missing ${field} (400): ?${query}`, async () => {
        const res = await fetch(`${server.url}/v1/artifacts?${query}`, { method: 'POST', headers: { ...alice, 'content-type': 'image/png' }, body: media.png(100) });
        assert.equal(res.status, 400);
        assert.match((await res.json() as { error: { code: string } }).error.code, /^(VALIDATION_FAILED|SECURITY_VIOLATION)$/);
      });
    }

    it('answers a truncated multipart body with 400 and keeps nothing', async () => {
      const before = await objects();
      const boundary = 'xBOUNDARYx';
      const full = multipart(boundary, [{ name: 'file', filename: 'a.png', type: 'image/png', body: media.png(20_000) }], false);
      const truncated = full.subarray(0, full.length - 5000);
      const res = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { ...alice, 'content-type': `multipart/form-data; boundary=${boundary}` }, body: truncated });
      assert.equal(res.status, 400);
      await assertNothingLeft(before);
    });

    it('answers malformed multipart bodies with 4xx, never 500', async () => {
      const before = await objects();
      const cases: [string, Uint8Array | string][] = [
        ['multipart/form-data', 'no boundary at all'],
        ['multipart/form-data; boundary=abc', 'garbage without any boundary line'],
        ['multipart/form-data; boundary=abc', multipart('abc', [{ name: 'notfile', filename: 'a.png', type: 'image/png', body: media.png(100) }])],
        ['multipart/form-data; boundary=abc', multipart('abc', [{ name: 'comment', body: 'only a field' }])],
        ['multipart/form-data; boundary=abc', multipart('abc', [{ name: 'file', filename: 'a.png', type: 'text/plain', body: media.png(100) }])],
        ['multipart/form-data; boundary=abc', multipart('abc', [{ name: 'file', filename: '../../etc/passwd', type: 'image/png', body: 'not a png' }])],
      ];
      for (const [type, body] of cases) {
        const res = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { ...alice, 'content-type': type }, body });
        const text = await res.text();
        assert.ok(res.status >= 400 && res.status < 500, `${type} ${JSON.stringify(String(body).slice(0, 40))}: ${res.status} ${text}`);
        assert.ok(JSON.parse(text).error.code);
      }
      await assertNothingLeft(before);
    });

    it('stores nothing when the body is shorter than its Content-Length and the client gives up', async () => {
      const before = await objects();
      const png = media.png(50_000);
      const answer = await socketExchange(server.url, `POST /v1/artifacts?artifactType=image HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${alice.authorization}\r\nContent-Type: image/png\r\nContent-Length: ${png.length + 1000}\r\n\r\n`, png, { endAfterWrite: true });
      assert.doesNotMatch(answer, /^HTTP\/1\.1 (2|5)\d\d/);
      await assertNothingLeft(before);
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    });

    it('never stores more than Content-Length bytes when the body is longer, and never answers 500', async () => {
      const before = await objects();
      const png = media.png(3000);
      const answer = await socketExchange(server.url, `POST /v1/artifacts?artifactType=image HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${alice.authorization}\r\nContent-Type: image/png\r\nContent-Length: 2000\r\n\r\n`, Buffer.concat([png, Buffer.from('\r\n')]), { destroyAfterMs: 500 });
      // The bytes past Content-Length are a malformed next request: Node answers it 400 and closes,
      // possibly before the first answer is written, and the connection is gone: either the first
      // request is stored with exactly its 2000 bytes, or nothing is.
      assert.doesNotMatch(answer, /HTTP\/1\.1 5\d\d/);
      if (/HTTP\/1\.1 400/.test(answer)) assert.match(answer, /\{"error":\{"code":"VALIDATION_FAILED","message":"the request is not valid HTTP"\}\}/);
      assert.ok(await eventually(async () => (await tempFiles()).length === 0));
      const added = (await server.storage.listArtifacts({ tenantId: 'alice', limit: 1000 })).items.filter((i) => !before.includes(i.storageKey));
      assert.ok(added.every((i) => i.size === 2000), JSON.stringify(added));
    });

    it('stores nothing when the client disconnects mid-upload', async () => {
      const before = await objects();
      const answer = await socketExchange(server.url, `POST /v1/artifacts?artifactType=image HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${alice.authorization}\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n`, Buffer.concat([Buffer.from('4e20\r\n'), media.png(20_000), Buffer.from('\r\n')]), { destroyAfterMs: 200 });
      assert.equal(answer, '');
      await assertNothingLeft(before);
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    });
  }));
}
for (const suite of suites) suite();
