import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import * as tus from 'tus-js-client';
import { testDatabases } from '../catalog/databases.ts';
import { createTestBucket, providerConfig, removeTestBucket, s3SkipReason } from '../s3/s3-test-server.ts';
import { filesUnder } from '../helpers.ts';
import { bearer, clusterConfig, startBalancer, startNode } from './cluster-harness.ts';

/**
 * A 64 MiB resumable upload across two `serve` processes on one PostgreSQL catalog, one S3 bucket
 * (the Ceph gateway) and one TUS directory, behind a balancer: the connection is cut once (the
 * upload resumes on the same node) and then the node is killed (it resumes on the other one).
 */

const postgres = testDatabases.find((d) => d.name === 'postgres');
const skip = !postgres ? 'no PostgreSQL (BOARDS_TEST_DATABASE_URL)' : s3SkipReason;
if (skip) console.warn(`\n*** SKIPPED TUS resume across nodes: ${skip} ***\n`);

const MiB = 1024 * 1024;

describe('TUS upload resumed on another node', { skip }, () => {
  it('64 MiB in 8 MiB chunks survives a cut connection and a killed node, and is stored with its SHA-256', async () => {
    const { databaseUrl } = await postgres!.fresh();
    const bucket = await createTestBucket('tus-resume');
    try {
      const cluster = await clusterConfig({
        database_url: databaseUrl,
        default_provider: 's3',
        providers: { s3: { type: 's3', config: providerConfig(bucket) } },
        max_file_size: '1GB',
      });
      const tusDir = join(cluster.dir, 'tus-shared');
      cluster.storage.server = { ...(cluster.storage.server as object), tus: { directory: tusDir } };
      const [a, b] = await Promise.all([startNode(cluster, 'a'), startNode(cluster, 'b')]);
      const balancer = await startBalancer(a.port);
      const auth = await bearer(cluster, { tenant: 'studio' });

      // Video-like content: an MP4 signature, then random bytes.
      const content = randomBytes(64 * MiB);
      Buffer.from('000000206674797069736f6d0000020069736f6d69736f32617663316d703431', 'hex').copy(content);
      const sha256 = createHash('sha256').update(content).digest('hex');

      const events: string[] = [];
      let uploadUrl: string | null = null;
      const result = await new Promise<{ storageKey: string | null; body: string }>((resolve, reject) => {
        const upload = new tus.Upload(content, {
          endpoint: `${balancer.url}/v1/uploads/tus`,
          chunkSize: 8 * MiB,
          headers: auth,
          metadata: { artifactType: 'video', artifactId: 'render', boardId: 'b1', contentType: 'video/mp4', filename: 'render.mp4' },
          retryDelays: [200, 500, 1000, 2000, 3000, 5000],
          onAfterResponse: () => { uploadUrl ??= upload.url; },
          onProgress: (sent) => {
            if (sent >= 20 * MiB && !events.includes('cut')) {
              // A flaky link: every connection drops; the client resumes on the same node.
              events.push('cut');
              balancer.cut();
            } else if (sent >= 44 * MiB && events.includes('cut') && !events.includes('kill')) {
              // Node A dies mid-chunk; the balancer sends the client to node B from now on.
              events.push('kill');
              balancer.target = b.port;
              void a.kill('SIGKILL').then(() => balancer.cut());
            }
          },
          onSuccess: (payload) => resolve({ storageKey: payload.lastResponse.getHeader('Storage-Key') ?? null, body: payload.lastResponse.getBody() }),
          onError: reject,
        });
        upload.start();
      });
      assert.deepEqual(events, ['cut', 'kill']);
      assert.equal(a.child.signalCode, 'SIGKILL');
      assert.match(uploadUrl ?? '', /\/v1\/uploads\/tus\/studio_[0-9a-f]{32}$/);
      // Resumed, not restarted: well under two full copies crossed the balancer.
      assert.ok(balancer.bytesIn < 64 * MiB * 1.5, `sent ${balancer.bytesIn} bytes for a 64 MiB upload`);

      assert.ok(result.storageKey);
      assert.match(result.storageKey, /^studio\/video\/b1\/render_\d{14}_[0-9a-f]{8}\/original\.mp4$/);
      const ref = JSON.parse(result.body) as { sha256: string; size: number; storageProvider: string };
      assert.equal(ref.sha256, sha256);
      assert.equal(ref.size, content.length);
      assert.equal(ref.storageProvider, 's3');
      // Node B reads it back whole from S3 with the same SHA-256.
      const got = await fetch(`${b.url}/v1/artifacts/${result.storageKey}`, { headers: auth });
      assert.equal(got.status, 200);
      assert.equal(createHash('sha256').update(Buffer.from(await got.arrayBuffer())).digest('hex'), sha256);
      // Nothing of the upload stays in the shared directory.
      const deadline = Date.now() + 5000;
      while ((await filesUnder(tusDir)).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await filesUnder(tusDir), []);
      await b.kill('SIGTERM');
    } finally {
      await removeTestBucket(bucket);
    }
  });
});
