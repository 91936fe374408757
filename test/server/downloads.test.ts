import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { media } from '../fixtures/media.ts';
import { rawRequest, startTestServer } from './server-harness.ts';
import { testDatabases } from '../catalog/databases.ts';

/** GET/HEAD /v1/artifacts/{key}: Range, ETag, 304, Cache-Control, Content-Disposition; hostile keys. */

// Every server is started before any test is registered: the root's `after` hooks (which close
// them) must not run while a later server is still starting.
const suites: (() => unknown)[] = []; // describe() returns a promise node:test tracks itself
for (const database of testDatabases) {
  const server = await startTestServer({ server: { cache: { max_object_size: '64KB', max_total_size: '1MB' } }, database });
  const alice = await server.as('alice');
  const small = media.png(10_000);
  const large = media.png(300_000);
  const smallRef = await server.put('alice', small, 'image/png');
  const largeRef = await server.put('alice', large, 'image/png', { boardId: 'b1' });

  suites.push(() => describe(`GET /v1/artifacts/{key} on ${database.name}`, () => {
    for (const [label, ref, bytes] of [['cached small artifact', smallRef, small], ['streamed large artifact', largeRef, large]] as const) {
      it(`serves the whole ${label} with its ETag and private caching`, async () => {
        for (let i = 0; i < 2; i++) {
          const res = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: alice });
          assert.equal(res.status, 200);
          assert.equal(res.headers.get('etag'), `"${ref.sha256}"`);
          assert.equal(res.headers.get('cache-control'), 'private');
          assert.equal(res.headers.get('content-type'), 'image/png');
          assert.equal(res.headers.get('content-length'), String(bytes.length));
          assert.equal(res.headers.get('accept-ranges'), 'bytes');
          assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
        }
      });

      it(`serves single ranges of the ${label} (206) and refuses unsatisfiable ones (416)`, async () => {
        const cases: [string, number, number][] = [['bytes=0-99', 0, 99], ['bytes=100-', 100, bytes.length - 1], ['bytes=-50', bytes.length - 50, bytes.length - 1], [`bytes=5-${bytes.length + 100}`, 5, bytes.length - 1]];
        for (const [range, start, end] of cases) {
          const res = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: { ...alice, range } });
          assert.equal(res.status, 206, range);
          assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${bytes.length}`);
          assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes.subarray(start, end + 1));
        }
        const unsatisfiable = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: { ...alice, range: `bytes=${bytes.length}-` } });
        assert.equal(unsatisfiable.status, 416);
        assert.equal(unsatisfiable.headers.get('content-range'), `bytes */${bytes.length}`);
        assert.equal((await unsatisfiable.json() as { error: { code: string } }).error.code, 'RANGE_NOT_SATISFIABLE');
        // Several ranges, or a header that is not a byte range, get the whole artifact.
        const multi = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: { ...alice, range: 'bytes=0-1,5-6' } });
        assert.equal(multi.status, 200);
        await multi.arrayBuffer();
        // If-Range with another ETag: the whole artifact.
        const stale = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: { ...alice, range: 'bytes=0-9', 'if-range': '"other"' } });
        assert.equal(stale.status, 200);
        await stale.arrayBuffer();
      });
    }

    it('answers If-None-Match with 304 and no body', async () => {
      const res = await fetch(`${server.url}/v1/artifacts/${smallRef.storageKey}`, { headers: { ...alice, 'if-none-match': `"x", "${smallRef.sha256}"` } });
      assert.equal(res.status, 304);
      assert.equal(res.headers.get('etag'), `"${smallRef.sha256}"`);
      assert.equal((await res.arrayBuffer()).byteLength, 0);
      const changed = await fetch(`${server.url}/v1/artifacts/${smallRef.storageKey}`, { headers: { ...alice, 'if-none-match': '"something-else"' } });
      assert.equal(changed.status, 200);
      await changed.arrayBuffer();
    });

    it('answers HEAD with the headers of GET and no body', async () => {
      const res = await rawRequest(server.url, 'HEAD', `/v1/artifacts/${largeRef.storageKey}`, alice);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], String(large.length));
      assert.equal(res.headers.etag, `"${largeRef.sha256}"`);
      assert.equal(res.body.length, 0);
      const ranged = await rawRequest(server.url, 'HEAD', `/v1/artifacts/${largeRef.storageKey}`, { ...alice, range: 'bytes=0-9' });
      assert.equal(ranged.status, 206);
      assert.equal(ranged.headers['content-length'], '10');
    });

    it('sets Content-Disposition on request, refusing unsafe names', async () => {
      const named = await fetch(`${server.url}/v1/artifacts/${smallRef.storageKey}?download=my%20fox.png`, { headers: alice });
      assert.equal(named.headers.get('content-disposition'), 'attachment; filename="my fox.png"');
      await named.arrayBuffer();
      const defaulted = await fetch(`${server.url}/v1/artifacts/${smallRef.storageKey}?download=`, { headers: alice });
      assert.match(defaulted.headers.get('content-disposition') ?? '', /^attachment; filename=original\.png$/);
      await defaulted.arrayBuffer();
      const unsafe = await fetch(`${server.url}/v1/artifacts/${smallRef.storageKey}?download=${encodeURIComponent('a"\r\nSet-Cookie: x=1')}`, { headers: alice });
      assert.equal(unsafe.status, 400);
      assert.equal(unsafe.headers.get('set-cookie'), null);
    });

    it('serves public artifacts as immutable, after PATCH /v1/info', async () => {
      const patched = await fetch(`${server.url}/v1/info/${largeRef.storageKey}`, { method: 'PATCH', headers: { ...alice, 'content-type': 'application/json' }, body: JSON.stringify({ visibility: 'public' }) });
      assert.equal(patched.status, 200);
      assert.equal((await patched.json() as { visibility: string }).visibility, 'public');
      const res = await fetch(`${server.url}/v1/artifacts/${largeRef.storageKey}`, { headers: alice });
      assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      await res.arrayBuffer();
      const info = await (await fetch(`${server.url}/v1/info/${largeRef.storageKey}`, { headers: alice })).json() as { visibility: string; sha256: string };
      assert.equal(info.visibility, 'public');
      assert.equal(info.sha256, largeRef.sha256);
      const bad = await fetch(`${server.url}/v1/info/${largeRef.storageKey}`, { method: 'PATCH', headers: { ...alice, 'content-type': 'application/json' }, body: JSON.stringify({ visibility: 'world' }) });
      assert.equal(bad.status, 400);
      assert.equal((await bad.json() as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
    });

    it('deletes (204), then answers 404', async () => {
      const ref = await server.put('alice', media.png(100), 'image/png');
      assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { method: 'DELETE', headers: alice })).status, 204);
      assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: alice })).status, 404);
      assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { method: 'DELETE', headers: alice })).status, 404);
    });
  }));

  suites.push(() => describe(`keys with traversal in every encoding on ${database.name}`, () => {
    const folder = smallRef.storageKey.split('/').slice(0, -1).join('/');
    const hostile = [
      '../../../etc/passwd',
      'alice/../../etc/passwd',
      `${folder}/../../../../etc/passwd`,
      'alice/%2e%2e/%2e%2e/etc/passwd',
      'alice/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
      'alice%2f..%2f..%2fetc%2fpasswd',
      'alice/%252e%252e/%252e%252e/etc/passwd',
      'alice/..%5c..%5cetc%5cpasswd',
      'alice\\..\\..\\etc\\passwd',
      'alice/image/%00/x',
      'alice//image/x',
      '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      'alice/image/..%c0%af..%c0%afetc/passwd',
      `${smallRef.storageKey}/..`,
      `${folder}/./original.png`,
    ];
    for (const route of ['/v1/artifacts/', '/v1/info/', '/v1/signed/']) {
      it(`answers 400 or 404 on ${route}, never a file`, async () => {
        for (const key of hostile) {
          const res = await rawRequest(server.url, 'GET', route + key, alice);
          assert.ok([400, 403, 404].includes(res.status), `${route}${key}: ${res.status}`);
          if (route !== '/v1/signed/') assert.ok([400, 404].includes(res.status), `${route}${key}: ${res.status}`);
          assert.doesNotMatch(res.body.toString('latin1'), /root:|PNG/, `${route}${key} leaked content`);
          assert.match(String(res.headers['content-type'] ?? ''), /application\/json/);
        }
      });
    }
  }));
}
for (const suite of suites) suite();
