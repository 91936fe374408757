import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, startTestServer } from './server-harness.ts';
import { chunk, chunkedHead, KeepAliveClient } from './keep-alive-client.ts';

/**
 * Connections after an early answer (401, 413, 415, 400 before the body is read), bodies that
 * stall, and the cap on uploads in progress; every exchange is raw bytes on one loopback socket,
 * as a connection pool would send them.
 */

const LIMIT = 64 * 1024;
const server = await startTestServer({
  storage: { max_file_size: LIMIT },
  server: { body_idle_timeout: '1s', max_concurrent_uploads: 3, max_concurrent_uploads_per_tenant: 2 },
});
const host = new URL(server.url).host;
const alice = (await server.as('alice')).authorization!;

/** The answer to the request after an early answer on the same connection: answered, or closed as announced. */
async function nextRequestIsAnswered(client: KeepAliveClient, first: { headers: Record<string, string> }): Promise<void> {
  await client.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  const second = await client.response(8000);
  if (first.headers.connection === 'close') {
    // Announced: the client opens a new connection; this one must end, not hang.
    await Promise.race([client.closedAt, new Promise((_, reject) => setTimeout(() => reject(new Error('Connection: close was announced but the connection stayed open')), 8000))]);
    return;
  }
  assert.ok(second, 'the second request on the connection got no answer (it hangs)');
  assert.equal(second.status, 200);
  assert.deepEqual(JSON.parse(second.body.toString()), { ok: true });
}

/** A 2 MB chunked body, written without waiting for the server to read it. */
function sendTwoMegabytes(client: KeepAliveClient, path: string, headers: Record<string, string>): void {
  void client.write(chunkedHead('POST', path, host, headers));
  const body = randomBytes(64 * 1024);
  for (let i = 0; i < 32; i++) void client.write(chunk(body));
  void client.write('0\r\n\r\n');
}

async function tempFiles(): Promise<string[]> {
  return readdir(join(server.filesDir, '~tmp')).catch(() => []);
}

describe('the next request on a connection after an early answer', () => {
  const cases: { name: string; status: number; path: string; headers: Record<string, string> }[] = [
    { name: '413 (body over max_file_size)', status: 413, path: '/v1/artifacts?artifactType=model', headers: { authorization: alice, 'content-type': 'application/octet-stream' } },
    { name: '401 (no token)', status: 401, path: '/v1/artifacts?artifactType=model', headers: { 'content-type': 'application/octet-stream' } },
    { name: '415 (content type not allowed)', status: 415, path: '/v1/artifacts?artifactType=model', headers: { authorization: alice, 'content-type': 'application/x-msdownload' } },
    { name: '400 (query not valid)', status: 400, path: '/v1/artifacts?artifactType=model&visibility=secret', headers: { authorization: alice, 'content-type': 'application/octet-stream' } },
  ];
  for (const c of cases) {
    it(`is answered after a ${c.name} to a 2 MB chunked upload`, async () => {
      const client = await KeepAliveClient.open(server.url);
      try {
        sendTwoMegabytes(client, c.path, c.headers);
        const first = await client.response(8000);
        assert.ok(first, 'no answer to the upload');
        assert.equal(first.status, c.status, first.body.toString());
        await nextRequestIsAnswered(client, first);
      } finally {
        client.close();
      }
      assert.ok(await eventually(async () => (await tempFiles()).length === 0), 'a temp file was left');
    });
  }

  it('Node fetch gets the 413 (not ECONNRESET) and its next request on the pool succeeds', async () => {
    // A streamed body (chunked, no Content-Length): the limit is found while reading.
    const piece = randomBytes(64 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({ pull(controller) { if (sent++ < 32) controller.enqueue(piece); else controller.close(); } });
    const res = await fetch(`${server.url}/v1/artifacts?artifactType=model`, { method: 'POST', headers: { authorization: alice, 'content-type': 'application/octet-stream' }, body, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'CONTENT_TOO_LARGE');
    const next = await fetch(`${server.url}/healthz`);
    assert.equal(next.status, 200);
  });
});

describe('bodies that stall or trickle', () => {
  it('an unauthenticated trickling body gets its 401 and loses its connection within seconds', async () => {
    const client = await KeepAliveClient.open(server.url);
    const started = Date.now();
    await client.write(chunkedHead('POST', '/v1/artifacts?artifactType=model', host, { 'content-type': 'application/octet-stream' }));
    const trickle = setInterval(() => void client.write(chunk(Buffer.from('x'))), 100);
    try {
      const first = await client.response(5000);
      assert.equal(first?.status, 401);
      await Promise.race([client.closedAt, new Promise((_, reject) => setTimeout(() => reject(new Error('the connection is still open 10 s later')), 10_000))]);
      assert.ok(Date.now() - started < 10_000);
    } finally {
      clearInterval(trickle);
      client.close();
    }
  });

  it('an authenticated body that stops sending is answered 408 after body_idle_timeout, leaving nothing', async () => {
    const client = await KeepAliveClient.open(server.url);
    try {
      await client.write(chunkedHead('POST', '/v1/artifacts?artifactType=model', host, { authorization: alice, 'content-type': 'application/octet-stream' }));
      await client.write(chunk(randomBytes(1000)));
      const started = Date.now();
      const answer = await client.response(8000);
      assert.equal(answer?.status, 408, answer?.body.toString());
      assert.equal(JSON.parse(answer.body.toString()).error.code, 'REQUEST_TIMEOUT');
      assert.ok(Date.now() - started >= 900 && Date.now() - started < 5000);
      await Promise.race([client.closedAt, new Promise((_, reject) => setTimeout(() => reject(new Error('the stalled connection is still open')), 10_000))]);
    } finally {
      client.close();
    }
    assert.ok(await eventually(async () => (await tempFiles()).length === 0), 'a temp file was left');
    assert.equal((await server.storage.listArtifacts({ tenantId: 'alice' })).items.length, 0);
  });
});

describe('the cap on uploads in progress', () => {
  it('answers 429 over the tenant\'s share and 503 over the total, with Retry-After; slots come back', async () => {
    const open: KeepAliveClient[] = [];
    const start = async (authorization: string) => {
      const client = await KeepAliveClient.open(server.url);
      open.push(client);
      await client.write(chunkedHead('POST', '/v1/artifacts?artifactType=model', host, { authorization, 'content-type': 'application/octet-stream' }));
      await client.write(chunk(randomBytes(100)));
      return client;
    };
    const keepAlive = setInterval(() => { for (const c of open) void c.write(chunk(randomBytes(10))); }, 200);
    try {
      await start(alice);
      await start(alice);
      await new Promise((r) => setTimeout(r, 300));
      const third = await start(alice);
      const refused = await third.response(5000);
      assert.equal(refused?.status, 429, refused?.body.toString());
      assert.ok(Number(refused.headers['retry-after']) > 0);
      assert.equal(JSON.parse(refused.body.toString()).error.code, 'TOO_MANY_UPLOADS');
      open.splice(open.indexOf(third), 1);
      third.close();

      const bob = (await server.as('bob')).authorization!;
      await start(bob);
      await new Promise((r) => setTimeout(r, 300));
      const carol = await start((await server.as('carol')).authorization!);
      const busy = await carol.response(5000);
      assert.equal(busy?.status, 503, busy?.body.toString());
      assert.ok(Number(busy.headers['retry-after']) > 0);
      assert.equal(JSON.parse(busy.body.toString()).error.code, 'SERVER_BUSY');
      open.splice(open.indexOf(carol), 1);
      carol.close();
    } finally {
      clearInterval(keepAlive);
      for (const c of open) c.close();
    }
    // The clients are gone: their slots come back and a new upload is stored.
    assert.ok(await eventually(async () => {
      const res = await fetch(`${server.url}/v1/artifacts?artifactType=model`, { method: 'POST', headers: { authorization: alice, 'content-type': 'application/octet-stream' }, body: randomBytes(100) });
      return res.status === 201;
    }, 5000));
  });
});
