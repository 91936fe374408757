/**
 * The GCS provider against the emulator behind a proxy that drops one request's connection, as a
 * server closing an idle keep-alive socket does: the metadata PATCH that ends a resumable upload is
 * repeated instead of costing the upload.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { Server } from 'node:http';
import { GcsProvider } from '../../src/providers/gcs.ts';
import { generated } from '../contract/provider-contract.ts';
import { gcsSkipReason, providerConfig, server, testBucket } from './gcs-test-server.ts';

const MiB = 1024 * 1024;

describe('gcs metadata after a resumable upload', { skip: gcsSkipReason ?? false }, () => {
  let proxy: Server;
  let endpoint: string;
  /** Drop the connection of this many metadata PATCHes before letting them through. */
  let dropPatches = 0;
  const patches: string[] = [];

  before(async () => {
    const upstream = new URL(server().endpoint);
    proxy = createServer((req, res) => {
      if (req.method === 'PATCH' && /\/o\/[^/?]+/.test(req.url ?? '')) {
        patches.push(req.url!);
        if (dropPatches > 0) {
          dropPatches--;
          req.socket.destroy();
          return;
        }
      }
      const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  });
  after(async () => {
    proxy.closeAllConnections();
    await new Promise((resolve) => proxy.close(resolve));
  });

  it('sets the metadata even when its first request is dropped', async () => {
    const provider = new GcsProvider(providerConfig(testBucket('meta-retry'), { api_endpoint: endpoint, simple_upload_threshold: '1MB', chunk_size: '256KB' }), { name: 'gcs-retry' });
    dropPatches = 1;
    const hash = createHash('sha256');
    const metadata: Record<string, string> = { note: 'kept' };
    async function* content() {
      yield* generated(2 * MiB, hash);
      metadata.sha256 = 'set-at-the-end';
    }
    await provider.upload('r/retried.bin', content(), { contentType: 'application/octet-stream', metadata });
    assert.equal(patches.length, 2, 'the dropped PATCH was sent again');
    const meta = await provider.getMetadata('r/retried.bin');
    assert.equal(meta.size, 2 * MiB);
    assert.equal(meta.metadata.sha256, 'set-at-the-end');
    assert.equal(meta.metadata.note, 'kept');
    await provider.delete('r/retried.bin');
  });
});
