import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { media } from '../fixtures/media.ts';
import { startTestServer } from './server-harness.ts';

/** CORS as a browser sees it: preflights and simple requests from an allowed and a refused origin. */

const APP = 'https://app.example.com';
const EVIL = 'https://evil.example.net';
const TUS = { 'tus-resumable': '1.0.0' };

function preflight(url: string, origin: string, method: string, headers: string): Promise<Response> {
  return fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers } });
}

function list(header: string | null): string[] {
  return (header ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
}

describe('CORS with server.cors.origins', async () => {
  const server = await startTestServer({ server: { cors: { origins: [APP], credentials: true, max_age: '10m' } } });
  const alice = await server.as('alice');
  const ref = await server.put('alice', media.png(2000), 'image/png');

  for (const [what, path, method, headers] of [
    ['a raw upload (POST)', '/v1/artifacts?artifactType=image', 'POST', 'authorization,content-type'],
    ['a TUS append (PATCH)', '/v1/uploads/tus/alice_0123456789abcdef0123456789abcdef', 'PATCH', 'authorization,tus-resumable,upload-offset,content-type'],
    ['a TUS creation (POST)', '/v1/uploads/tus', 'POST', 'authorization,tus-resumable,upload-length,upload-metadata'],
    ['a presigned upload (PUT)', '/v1/signed/alice/image/x_20260101000000_abcdef01/original.png?sig=x', 'PUT', 'content-type'],
    ['a visibility change (PATCH)', `/v1/info/${ref.storageKey}`, 'PATCH', 'authorization,content-type'],
  ] as const) {
    it(`answers the preflight of ${what} from an allowed origin, before authentication`, async () => {
      const res = await preflight(`${server.url}${path}`, APP, method, headers);
      assert.equal(res.status, 204);
      assert.equal(res.headers.get('access-control-allow-origin'), APP);
      assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
      assert.ok(list(res.headers.get('access-control-allow-methods')).includes(method.toLowerCase()));
      for (const h of headers.split(',')) assert.ok(list(res.headers.get('access-control-allow-headers')).includes(h), h);
      assert.equal(res.headers.get('access-control-max-age'), '600');
      assert.match(res.headers.get('vary') ?? '', /origin/i);
    });
  }

  it('gives a refused origin no Access-Control-Allow-Origin on a preflight', async () => {
    const res = await preflight(`${server.url}/v1/artifacts?artifactType=image`, EVIL, 'POST', 'authorization,content-type');
    // Without Access-Control-Allow-Origin the browser refuses, whatever else is sent.
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  it('a simple request from an allowed origin may read the bytes and the headers clients need', async () => {
    const res = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: { ...alice, origin: APP, range: 'bytes=0-9' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    const exposed = list(res.headers.get('access-control-expose-headers'));
    for (const h of ['etag', 'content-range', 'location', 'upload-offset', 'upload-length', 'tus-resumable']) assert.ok(exposed.includes(h), h);
  });

  it('a simple request from a refused origin carries no CORS grant (the browser withholds the answer)', async () => {
    const res = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: { ...alice, origin: EVIL } });
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  it('an error answer (401) to an allowed origin is readable by the page', async () => {
    const res = await fetch(`${server.url}/v1/artifacts`, { headers: { origin: APP } });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
  });

  it('TUS answers carry the grant for an allowed origin only, and expose the upload headers', async () => {
    const create = (origin: string) => fetch(`${server.url}/v1/uploads/tus`, { method: 'POST', headers: { ...alice, ...TUS, origin, 'upload-length': '5', 'upload-metadata': `artifactType ${Buffer.from('text').toString('base64')},contentType ${Buffer.from('text/plain').toString('base64')}` } });
    const allowed = await create(APP);
    assert.equal(allowed.status, 201);
    assert.equal(allowed.headers.get('access-control-allow-origin'), APP);
    const exposed = list(allowed.headers.get('access-control-expose-headers'));
    for (const h of ['location', 'upload-offset', 'upload-length', 'tus-resumable', 'storage-key']) assert.ok(exposed.includes(h), h);
    const refused = await create(EVIL);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
  });
});

describe('CORS with no origins configured', async () => {
  const server = await startTestServer();
  const alice = await server.as('alice');
  const ref = await server.put('alice', media.png(100), 'image/png');

  it('allows no cross-origin access: no preflight succeeds, no answer carries a grant', async () => {
    for (const [path, method] of [['/v1/artifacts?artifactType=image', 'POST'], ['/v1/uploads/tus', 'POST'], [`/v1/info/${ref.storageKey}`, 'PATCH']] as const) {
      const res = await preflight(`${server.url}${path}`, APP, method, 'authorization');
      assert.equal(res.headers.get('access-control-allow-origin'), null, path);
      assert.ok(res.status >= 400, `${path}: ${res.status}`);
    }
    const simple = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: { ...alice, origin: APP } });
    assert.equal(simple.status, 200);
    assert.equal(simple.headers.get('access-control-allow-origin'), null);
    const tus = await fetch(`${server.url}/v1/uploads/tus`, { method: 'POST', headers: { ...alice, ...TUS, origin: APP, 'upload-length': '5', 'upload-metadata': `artifactType ${Buffer.from('text').toString('base64')},contentType ${Buffer.from('text/plain').toString('base64')}` } });
    assert.equal(tus.status, 201);
    assert.equal(tus.headers.get('access-control-allow-origin'), null);
  });

  it('refuses a configuration that browsers would refuse: credentials with "*", or a URL that is not an origin', async () => {
    await assert.rejects(startTestServer({ server: { cors: { origins: ['*'], credentials: true } } }), /credentials: true needs the exact origins/);
    await assert.rejects(startTestServer({ server: { cors: { origins: ['https://app.example.com/'] } } }), /write it as https:\/\/app\.example\.com/);
  });
});
