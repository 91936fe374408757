import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, startTestServer } from './server-harness.ts';
import { KeepAliveClient } from './keep-alive-client.ts';

/**
 * TUS uploads under the limits every upload route has, over real HTTP on loopback: the caps on
 * uploads in progress (per tenant and in total) and the body idle timeout. The requests that hold
 * a slot trickle their bodies on raw sockets, as a slow client would; the ones that stall stop
 * sending mid-body.
 */

const server = await startTestServer({ server: { max_concurrent_uploads: 3, max_concurrent_uploads_per_tenant: 2 } });
const host = new URL(server.url).host;
const TUS = { 'tus-resumable': '1.0.0' };

function metadataHeader(meta: Record<string, string>): string {
  return Object.entries(meta).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(',');
}

/** Create an upload of `length` bytes (no body); its URL path. */
async function create(auth: Record<string, string>, length: number): Promise<string> {
  const res = await fetch(`${server.url}/v1/uploads/tus`, { method: 'POST', headers: { ...auth, ...TUS, 'upload-length': String(length), 'upload-metadata': metadataHeader({ artifactType: 'text', contentType: 'text/plain' }) } });
  assert.equal(res.status, 201, await res.text());
  return new URL(res.headers.get('location')!, server.url).pathname;
}

/** A PATCH declaring `length` bytes from `offset`, of which only `first` are sent now: the rest is the caller's to send (or not). */
async function startPatch(path: string, auth: Record<string, string>, offset: number, length: number, first: Buffer): Promise<KeepAliveClient> {
  const client = await KeepAliveClient.open(server.url);
  const headers = { ...auth, ...TUS, 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream', 'content-length': String(length) };
  await client.write(`PATCH ${path} HTTP/1.1\r\nHost: ${host}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  await client.write(first);
  return client;
}

const text = (n: number) => Buffer.from('a fox in the snow. '.repeat(Math.ceil(n / 19)).slice(0, n));

describe('TUS uploads under the upload caps', () => {
  it('a PATCH or a creation-with-upload over the tenant\'s share is 429, over the total 503, with Retry-After; bodiless requests pass; slots come back', async () => {
    const alice = await server.as('alice');
    const bob = await server.as('bob');
    const carol = await server.as('carol');
    const open: KeepAliveClient[] = [];
    // Each trickles a byte every 200 ms: in progress, never idle.
    const trickle = setInterval(() => { for (const c of open) void c.write('x'); }, 200);
    try {
      for (let i = 0; i < 2; i++) open.push(await startPatch(await create(alice, 10_000), alice, 0, 10_000, text(100)));
      await new Promise((r) => setTimeout(r, 300));

      // Alice's third: a PATCH, and a creation-with-upload.
      const third = await startPatch(await create(alice, 1000), alice, 0, 1000, text(100));
      const refused = await third.response(5000);
      third.close();
      assert.equal(refused?.status, 429, refused?.body.toString());
      assert.ok(Number(refused.headers['retry-after']) > 0);
      assert.equal(JSON.parse(refused.body.toString()).error.code, 'TOO_MANY_UPLOADS');
      const withBody = await fetch(`${server.url}/v1/uploads/tus`, { method: 'POST', headers: { ...alice, ...TUS, 'upload-length': '5', 'upload-metadata': metadataHeader({ artifactType: 'text', contentType: 'text/plain' }), 'content-type': 'application/offset+octet-stream' }, body: text(5) });
      assert.equal(withBody.status, 429, await withBody.clone().text());
      assert.ok(Number(withBody.headers.get('retry-after')) > 0);
      // Creating an upload without bytes, and asking for its offset, hold nothing.
      const spare = await create(alice, 10);
      const head = await fetch(`${server.url}${spare}`, { method: 'HEAD', headers: { ...alice, ...TUS } });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('upload-offset'), '0');

      open.push(await startPatch(await create(bob, 10_000), bob, 0, 10_000, text(100)));
      await new Promise((r) => setTimeout(r, 300));
      const busy = await startPatch(await create(carol, 1000), carol, 0, 1000, text(100));
      const answer = await busy.response(5000);
      busy.close();
      assert.equal(answer?.status, 503, answer?.body.toString());
      assert.ok(Number(answer.headers['retry-after']) > 0);
      assert.equal(JSON.parse(answer.body.toString()).error.code, 'SERVER_BUSY');
      assert.equal(server.config.maxConcurrentUploads, 3);
    } finally {
      clearInterval(trickle);
      for (const c of open) c.close();
    }
    // The trickling clients are gone: their slots come back and a whole upload is stored.
    const path = await create(alice, 1000);
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      const res = await fetch(`${server.url}${path}`, { method: 'PATCH', headers: { ...alice, ...TUS, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' }, body: text(1000) });
      status = res.status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200);
  });
});

/**
 * A PATCH (or a creation-with-upload) whose client stops sending mid-body: cut after
 * server.body_idle_timeout, the connection closed without an answer (tus clients retry a network
 * failure and resume from HEAD's offset; a 4xx would end the upload), the partial file's
 * descriptor closed, its upload slot given back, and the upload resumable from what landed.
 */
describe('TUS bodies that stall', async () => {
  const IDLE_MS = 1000;
  const idle = await startTestServer({ server: { body_idle_timeout: '1s', max_concurrent_uploads_per_tenant: 1 } });
  const idleHost = new URL(idle.url).host;
  const tusDir = join(idle.dataDir, 'tus');

  /** The paths this process holds open under the TUS directory (Linux: /proc/self/fd; the server runs in this process). */
  async function openUnderTus(): Promise<string[]> {
    const fds = await readdir('/proc/self/fd').catch(() => undefined);
    if (!fds) return [];
    const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
    return targets.filter((target) => target.startsWith(tusDir));
  }

  /** Resolves with the ms from `since` to the server closing the connection; rejects after `ms`. */
  function closedWithin(client: KeepAliveClient, since: number, ms: number): Promise<number> {
    return Promise.race([
      client.closedAt.then(() => Date.now() - since),
      new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`the stalled connection is still open ${ms} ms later`)), ms).unref()),
    ]);
  }

  it('a PATCH that stops mid-body is cut after body_idle_timeout, its descriptor closed; the upload resumes from what landed and is stored with its SHA-256', async () => {
    const auth = await idle.as('alice');
    const content = Buffer.from(randomBytes(300_000).toString('hex'));
    const sent = 250_000;
    const created = await fetch(`${idle.url}/v1/uploads/tus`, { method: 'POST', headers: { ...auth, ...TUS, 'upload-length': String(content.length), 'upload-metadata': metadataHeader({ artifactType: 'text', contentType: 'text/plain', artifactId: 'stalled' }) } });
    assert.equal(created.status, 201, await created.text());
    const path = new URL(created.headers.get('location')!, idle.url).pathname;

    const client = await KeepAliveClient.open(idle.url);
    const head = { ...auth, ...TUS, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': String(content.length) };
    await client.write(`PATCH ${path} HTTP/1.1\r\nHost: ${idleHost}\r\n${Object.entries(head).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    await client.write(content.subarray(0, sent));
    const stalledAt = Date.now();
    try {
      // While it streams, the partial file is open.
      assert.ok(await eventually(async () => (await openUnderTus()).length > 0, 3000), 'the partial file was never opened');
      const after = await closedWithin(client, stalledAt, 10_000);
      assert.ok(after >= IDLE_MS - 100, `cut ${after} ms after the last byte, before body_idle_timeout`);
      assert.ok(after < IDLE_MS + 4000, `cut only ${after} ms after the last byte`);
      // Cut, not answered: the client learns the offset from HEAD, as after any broken connection.
      assert.equal(await client.response(0), undefined);
    } finally {
      client.close();
    }
    assert.ok(await eventually(async () => (await openUnderTus()).length === 0, 3000), `still open: ${(await openUnderTus()).join(', ')}`);
    // Counted as the other upload routes' 408s are.
    assert.match(await (await fetch(`${idle.url}/metrics`)).text(), /boards_storage_http_errors_total\{code="REQUEST_TIMEOUT"\} 1\n/);

    const offset = await fetch(`${idle.url}${path}`, { method: 'HEAD', headers: { ...auth, ...TUS } });
    assert.equal(offset.status, 200);
    assert.equal(offset.headers.get('upload-offset'), String(sent));
    // The slot came back (one per tenant here): the resuming PATCH is not refused.
    const rest = await fetch(`${idle.url}${path}`, { method: 'PATCH', headers: { ...auth, ...TUS, 'upload-offset': String(sent), 'content-type': 'application/offset+octet-stream' }, body: content.subarray(sent) });
    assert.equal(rest.status, 200, await rest.clone().text());
    const ref = await rest.json() as { sha256: string; size: number; storageKey: string };
    const sha256 = createHash('sha256').update(content).digest('hex');
    assert.equal(ref.sha256, sha256);
    assert.equal(ref.size, content.length);
    const got = await fetch(`${idle.url}/v1/artifacts/${ref.storageKey}`, { headers: auth });
    assert.equal(got.status, 200);
    assert.equal(createHash('sha256').update(Buffer.from(await got.arrayBuffer())).digest('hex'), sha256);
  });

  it('a creation-with-upload POST that stops mid-body is cut after body_idle_timeout too', async () => {
    const auth = await idle.as('bob');
    const client = await KeepAliveClient.open(idle.url);
    const head = { ...auth, ...TUS, 'upload-length': '100000', 'upload-metadata': metadataHeader({ artifactType: 'text', contentType: 'text/plain' }), 'content-type': 'application/offset+octet-stream', 'content-length': '100000' };
    await client.write(`POST /v1/uploads/tus HTTP/1.1\r\nHost: ${idleHost}\r\n${Object.entries(head).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    await client.write(text(40_000));
    const stalledAt = Date.now();
    try {
      const after = await closedWithin(client, stalledAt, 10_000);
      assert.ok(after >= IDLE_MS - 100 && after < IDLE_MS + 4000, `cut ${after} ms after the last byte`);
    } finally {
      client.close();
    }
    assert.ok(await eventually(async () => (await openUnderTus()).length === 0, 3000), `still open: ${(await openUnderTus()).join(', ')}`);
  });

  it('a PATCH that keeps sending, slower than body_idle_timeout in all but never silent that long, is not cut', async () => {
    const auth = await idle.as('carol');
    const content = text(20 * 1024);
    const path = await createOn(idle.url, auth, content.length);
    const client = await KeepAliveClient.open(idle.url);
    const head = { ...auth, ...TUS, 'upload-offset': '0', 'content-type': 'application/offset+octet-stream', 'content-length': String(content.length) };
    try {
      await client.write(`PATCH ${path} HTTP/1.1\r\nHost: ${idleHost}\r\n${Object.entries(head).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
      // Eight pieces a quarter of the timeout apart: the body takes longer than the timeout, no pause comes near it.
      for (let i = 0; i < 8; i++) {
        await client.write(content.subarray(i * 2560, (i + 1) * 2560));
        if (i < 7) await new Promise((r) => setTimeout(r, IDLE_MS / 4));
      }
      const answer = await client.response(10_000);
      assert.equal(answer?.status, 200, answer?.body.toString());
      assert.ok(answer.headers['storage-key']);
    } finally {
      client.close();
    }
  });
});

/** Create an upload of `length` text bytes on the server at `base`; its URL path. */
async function createOn(base: string, auth: Record<string, string>, length: number): Promise<string> {
  const res = await fetch(`${base}/v1/uploads/tus`, { method: 'POST', headers: { ...auth, ...TUS, 'upload-length': String(length), 'upload-metadata': metadataHeader({ artifactType: 'text', contentType: 'text/plain' }) } });
  assert.equal(res.status, 201, await res.text());
  return new URL(res.headers.get('location')!, base).pathname;
}
