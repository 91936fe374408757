import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from './server-harness.ts';
import { KeepAliveClient } from './keep-alive-client.ts';

/**
 * TUS uploads under the caps on uploads in progress (per tenant and in total) that every upload
 * route has, over real HTTP on loopback; the requests that hold a slot trickle their bodies on raw
 * sockets, as a slow client would.
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
