import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { ProviderUnavailableError } from '../../src/errors.ts';
import type { StorageProvider } from '../../src/providers/provider.ts';
import { media } from '../fixtures/media.ts';
import { startTestServer } from './server-harness.ts';

/**
 * A download whose provider stream fails after some bytes must not look complete: the response
 * has its headers and Content-Length already, so the server cuts the connection short of it.
 */
const server = await startTestServer({ server: { cache: { max_object_size: '1KB', max_total_size: '1MB' } } });
const alice = await server.as('alice');
const bytes = media.png(600_000);
const ref = await server.put('alice', bytes, 'image/png');

// The local provider as configured, but its download streams fail after their first 256 KiB.
const local = server.storage.provider('local');
const failing: StorageProvider = Object.assign(Object.create(local) as StorageProvider, {
  async openDownload(key: string, range?: { start?: number; end?: number }): Promise<Readable> {
    const source = await local.openDownload(key, range);
    let sent = 0;
    return Readable.from((async function* () {
      for await (const chunk of source) {
        for (let at = 0; at < (chunk as Buffer).length; at += 64 * 1024) {
          if (sent >= 256 * 1024) throw new ProviderUnavailableError('the backend went away mid-download');
          const piece = (chunk as Buffer).subarray(at, at + 64 * 1024);
          sent += piece.length;
          yield piece;
        }
      }
    })(), { objectMode: false });
  },
});

function download(path: string, headers: Record<string, string>): Promise<{ status: number; declared: number; received: number; complete: boolean }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, headers, agent: false }, (res) => {
      let received = 0;
      const done = (complete: boolean) => resolve({ status: res.statusCode ?? 0, declared: Number(res.headers['content-length']), received, complete });
      res.on('data', (c: Buffer) => { received += c.length; });
      res.on('end', () => done(true));
      res.on('aborted', () => done(false));
      res.on('error', () => done(false));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GET /v1/artifacts/{key} when the provider fails mid-stream', () => {
  it('cuts the response short of its Content-Length instead of ending it as if complete', async () => {
    server.storage.registerProvider('local', failing);
    try {
      const got = await download(`/v1/artifacts/${ref.storageKey}`, alice);
      assert.equal(got.status, 200);
      assert.equal(got.declared, bytes.length);
      assert.equal(got.complete, false);
      assert.ok(got.received < bytes.length, `received ${got.received} of ${bytes.length}`);
    } finally {
      server.storage.registerProvider('local', local);
    }
    const whole = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: alice });
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(bytes), "the same download from the healthy provider is whole");
  });

});
