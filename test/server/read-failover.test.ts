import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ProviderUnavailableError } from '../../src/errors.ts';
import { createTestBucket, providerConfig, removeTestBucket, s3SkipReason, warnSkipped } from '../s3/s3-test-server.ts';
import { switchableProxy } from '../fixtures/switchable-proxy.ts';
import { jsonHeaders, startTestServer } from './server-harness.ts';
import type { TestServer } from './server-harness.ts';

warnSkipped('reads that fail over over HTTP');

/**
 * The primary is the real Ceph gateway reached through a relay the test takes down; the mirror is
 * local disk. With the primary down, every way of reading over HTTP answers from the mirror.
 */
const small = randomBytes(10 * 1024);
const large = randomBytes(3 * 1024 * 1024 + 17);

async function primaryDownMirrorHolding(): Promise<{ server: TestServer; keys: string[] }> {
  const bucket = await createTestBucket('failover');
  const proxy = await switchableProxy(providerConfig(bucket).endpoint!);
  after(() => removeTestBucket(bucket));
  const server = await startTestServer({
    storage: ({ url, dataDir }) => ({
      default_provider: 's3',
      providers: {
        // One attempt per call and a breaker that opens on the first failure: the test is about failover, not retries.
        s3: { type: 's3', config: { ...providerConfig(bucket, { endpoint: proxy.url }), max_attempts: 1 }, mirrors: ['local'], circuit_breaker: { failure_threshold: 1, reset_timeout_ms: 600_000 } },
        local: { type: 'local', config: { base_path: join(dataDir, 'mirror'), serve_url_base: url } },
      },
    }),
  });
  const keys: string[] = [];
  for (const body of [small, large]) {
    const response = await fetch(`${server.url}/v1/artifacts?artifactType=model&artifactId=weights`, { method: 'POST', headers: { ...(await server.as('t1')), 'content-type': 'application/octet-stream' }, body });
    assert.equal(response.status, 201, await response.clone().text());
    keys.push(((await response.json()) as { storageKey: string }).storageKey);
  }
  await server.storage.flushMirrors();
  for (const key of keys) assert.deepEqual(await server.storage.catalog.copiesOf(key), [{ provider: 'local', status: 'done' }]);
  await proxy.down();
  return { server, keys };
}

const { server, keys } = s3SkipReason ? { server: undefined as unknown as TestServer, keys: [] as string[] } : await primaryDownMirrorHolding();

describe('reads fail over over HTTP', { skip: s3SkipReason ?? false }, () => {
  it('GET and HEAD answer from the mirror, whole and ranged', async () => {
    const auth = await server.as('t1');
    for (const [i, body] of [small, large].entries()) {
      const whole = await fetch(`${server.url}/v1/artifacts/${keys[i]}`, { headers: auth });
      assert.equal(whole.status, 200, await whole.clone().text());
      assert.deepEqual(Buffer.from(await whole.arrayBuffer()), body);
      const part = await fetch(`${server.url}/v1/artifacts/${keys[i]}`, { headers: { ...auth, range: 'bytes=100-199' } });
      assert.equal(part.status, 206);
      assert.deepEqual(Buffer.from(await part.arrayBuffer()), body.subarray(100, 200));
      const head = await fetch(`${server.url}/v1/artifacts/${keys[i]}`, { method: 'HEAD', headers: auth });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(body.length));
    }
  });

  it('POST /v1/urls and getDownloadUrls sign URLs on the mirror that download the bytes', async () => {
    const response = await fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(await server.as('t1')), body: JSON.stringify({ keys, expiresIn: 60 }) });
    assert.equal(response.status, 200, await response.clone().text());
    const { urls } = await response.json() as { urls: { storageKey: string; url: string }[] };
    for (const [i, body] of [small, large].entries()) {
      const download = await fetch(urls[i]!.url);
      assert.equal(download.status, 200);
      assert.deepEqual(Buffer.from(await download.arrayBuffer()), body);
    }
    const [url] = await server.storage.getDownloadUrls([keys[0]!], undefined, { expiresIn: 60 });
    assert.deepEqual(Buffer.from(await (await fetch(url!)).arrayBuffer()), small);
  });

  it('naming the artifact\'s provider still fails over; { exact: true } reads that provider only', async () => {
    const ref = await server.storage.getArtifact(keys[0]!);
    assert.equal(ref.storageProvider, 's3');
    assert.deepEqual(Buffer.from(await server.storage.download(keys[0]!)), small);
    const viaHint = await server.storage.openDownload(keys[0]!, undefined, ref.storageProvider);
    const chunks: Buffer[] = [];
    for await (const c of viaHint) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), small);
    await assert.rejects(server.storage.openDownload(keys[0]!, undefined, 's3', { exact: true }), ProviderUnavailableError);
    await assert.rejects(server.storage.getDownloadUrl(keys[0]!, 's3', { exact: true }), ProviderUnavailableError);
  });
});
