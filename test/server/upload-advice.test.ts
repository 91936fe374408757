import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { media } from '../fixtures/media.ts';
import { rawRequest, startTestServer } from './server-harness.ts';

/** What a new user sends by mistake gets an answer that says what to change. */

const server = await startTestServer();
const alice = await server.as('alice');
const url = `${server.url}/v1/artifacts?artifactType=image`;

async function errorOf(res: { status: number; body: Buffer }): Promise<{ status: number; code: string; message: string }> {
  const { error } = JSON.parse(res.body.toString()) as { error: { code: string; message: string } };
  return { status: res.status, ...error };
}

describe('upload advice', () => {
  it('a raw body without a Content-Type: 415 "set Content-Type"', async () => {
    const res = await errorOf(await rawRequest(server.url, 'POST', '/v1/artifacts?artifactType=image', { ...alice, 'content-length': '70' }, media.png()));
    assert.equal(res.status, 415);
    assert.equal(res.code, 'CONTENT_TYPE_NOT_ALLOWED');
    assert.match(res.message, /set Content-Type to the artifact's type/);
  });

  it('curl --data-binary without -H (application/x-www-form-urlencoded): "set Content-Type", not "allow it"', async () => {
    const res = await fetch(url, { method: 'POST', headers: { ...alice, 'content-type': 'application/x-www-form-urlencoded' }, body: media.png() });
    const error = await errorOf({ status: res.status, body: Buffer.from(await res.arrayBuffer()) });
    assert.equal(error.status, 415);
    assert.match(error.message, /curl's default when no Content-Type is given; set Content-Type/);
    assert.doesNotMatch(error.message, /allowed_content_types/);
  });

  it('an empty body says the body is empty', async () => {
    const res = await fetch(url, { method: 'POST', headers: { ...alice, 'content-type': 'image/png' }, body: new Uint8Array(0) });
    const error = await errorOf({ status: res.status, body: Buffer.from(await res.arrayBuffer()) });
    assert.equal(error.status, 415);
    assert.match(error.message, /the body is empty \(0 bytes\)/);
    assert.doesNotMatch(error.message, /signature/);
  });

  it('an alias Content-Type is stored under the canonical type and served as it', async () => {
    const res = await fetch(`${server.url}/v1/artifacts?artifactType=audio`, { method: 'POST', headers: { ...alice, 'content-type': 'audio/x-wav' }, body: media.wav() });
    assert.equal(res.status, 201);
    const ref = await res.json() as { storageKey: string; contentType: string };
    assert.equal(ref.contentType, 'audio/wav');
    const got = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: alice });
    assert.equal(got.headers.get('content-type'), 'audio/wav');
    await got.arrayBuffer();
  });

  it('an unknown artifactType, or one that does not fit the content: 400 naming artifactType', async () => {
    for (const [type, contentType, body, pattern] of [
      ['picture', 'image/png', media.png(), /artifactType "picture" is not one of the configured artifact types/],
      ['image', 'audio/wav', media.wav(), /artifactType "image" holds image\/\*, not audio\/wav/],
    ] as const) {
      const res = await fetch(`${server.url}/v1/artifacts?artifactType=${type}`, { method: 'POST', headers: { ...alice, 'content-type': contentType }, body });
      const error = await errorOf({ status: res.status, body: Buffer.from(await res.arrayBuffer()) });
      assert.equal(error.status, 400, type);
      assert.equal(error.code, 'VALIDATION_FAILED');
      assert.match(error.message, pattern);
    }
    assert.deepEqual((await server.storage.listArtifacts({ tenantId: 'alice', artifactType: 'image' })).items, []);
  });
});
