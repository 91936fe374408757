import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { media } from '../fixtures/media.ts';
import { jsonHeaders, startTestServer } from './server-harness.ts';

/** /v1/public/{key}: the local provider's public URLs answer anonymously only while the artifact is public. */

const server = await startTestServer();
const alice = await server.as('alice');
const png = media.png(3000);

async function setVisibility(key: string, visibility: 'public' | 'private'): Promise<string> {
  const res = await fetch(`${server.url}/v1/info/${key}`, { method: 'PATCH', headers: jsonHeaders(alice), body: JSON.stringify({ visibility }) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json() as { storageUrl: string }).storageUrl;
}

describe('public URLs of the local provider', () => {
  it('answer anonymously while public, stop at once when made private, and work again when public', async () => {
    const ref = await server.put('alice', png, 'image/png', { visibility: 'public' });
    assert.equal(ref.storageUrl, `${server.url}/v1/public/${ref.storageKey}`);
    const open = await fetch(ref.storageUrl!);
    assert.equal(open.status, 200);
    assert.equal(open.headers.get('etag'), `"${ref.sha256}"`);
    assert.match(open.headers.get('cache-control') ?? '', /public/);
    assert.deepEqual(Buffer.from(await open.arrayBuffer()), png);

    // A private artifact's reference names its location, not a URL anyone can open.
    assert.equal(await setVisibility(ref.storageKey, 'private'), `local://${ref.storageKey}`);
    const closed = await fetch(ref.storageUrl!);
    assert.equal(closed.status, 404);
    const body = await closed.json() as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'NOT_FOUND');
    assert.ok(!body.error.message.includes(server.filesDir), 'no filesystem path in the answer');

    assert.equal(await setVisibility(ref.storageKey, 'public'), ref.storageUrl);
    const reopened = await fetch(ref.storageUrl!, { headers: { range: 'bytes=0-9' } });
    assert.equal(reopened.status, 206);
    assert.deepEqual(Buffer.from(await reopened.arrayBuffer()), png.subarray(0, 10));
  });

  it('answers a private artifact exactly like a missing one', async () => {
    const ref = await server.put('alice', png, 'image/png');
    assert.equal(ref.storageUrl, `local://${ref.storageKey}`);
    const hidden = await fetch(`${server.url}/v1/public/${ref.storageKey}`);
    const missing = await fetch(`${server.url}/v1/public/${ref.storageKey.replace(/original\.png$/, 'other.png')}`);
    assert.equal(hidden.status, 404);
    assert.equal(missing.status, 404);
    const [a, b] = [await hidden.json() as { error: { code: string } }, await missing.json() as { error: { code: string } }];
    assert.equal(a.error.code, b.error.code);
  });

  it('is gone once the artifact is deleted, and refuses keys that escape', async () => {
    const ref = await server.put('alice', png, 'image/png', { visibility: 'public' });
    assert.equal((await fetch(ref.storageUrl!)).status, 200);
    assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { method: 'DELETE', headers: alice })).status, 204);
    assert.equal((await fetch(ref.storageUrl!)).status, 404);
    const escape = await fetch(`${server.url}/v1/public/alice/..%2f..%2fetc/passwd`);
    assert.ok(escape.status === 400 || escape.status === 403 || escape.status === 404, String(escape.status));
    assert.notEqual(escape.status, 200);
  });
});
