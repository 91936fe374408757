import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { media } from '../fixtures/media.ts';
import { startTestServer } from './server-harness.ts';
import { MemoryProvider, ValidationError, encodeCursor } from '../../src/index.ts';

/** A listing cursor is one the service issued, or the answer is 400: never a quietly empty page. */

const server = await startTestServer();
const alice = await server.as('alice');
const bob = await server.as('bob');
for (let i = 0; i < 3; i++) await server.put('alice', media.png(), 'image/png');
await server.put('bob', media.png(), 'image/png');

const list = async (query: string, auth = alice) => {
  const res = await fetch(`${server.url}/v1/artifacts?${query}`, { headers: auth });
  return { status: res.status, body: await res.json() as { items?: { storageKey: string }[]; nextCursor?: string; error?: { code: string; message: string } } };
};

describe('listing cursors', () => {
  it('pages through with the cursors it issues', async () => {
    const first = await list('limit=2');
    assert.equal(first.status, 200);
    assert.equal(first.body.items!.length, 2);
    const second = await list(`limit=2&cursor=${first.body.nextCursor}`);
    assert.equal(second.body.items!.length, 1);
    assert.equal(second.body.nextCursor, undefined);
  });

  it('answers 400 for a cursor it did not issue: garbage, non-canonical, or another tenant\'s', async () => {
    const bobsCursor = (await list('limit=1', bob)).body.items![0]!.storageKey;
    for (const cursor of ['garbage', 'not%20base64', '____', encodeCursor('zzz'), encodeCursor(bobsCursor)]) {
      const { status, body } = await list(`cursor=${cursor}`);
      assert.equal(status, 400, cursor);
      assert.equal(body.error!.code, 'VALIDATION_FAILED');
      assert.match(body.error!.message, /the cursor is not one this service issued; pass back the nextCursor/);
    }
  });

  it('providers refuse a cursor they did not issue too', async () => {
    const provider = new MemoryProvider();
    await assert.rejects(provider.list('', { cursor: 'garbage' }), ValidationError);
  });
});
