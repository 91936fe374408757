/**
 * A resumable upload that the server ends early. firebase-tools' stock Cloud Storage emulator
 * (without the resumable patch in scripts/gcs-emulator.ts) finalises a session on its first PUT;
 * here a relay in front of the emulator makes it do exactly that, by telling it that the first PUT
 * of each session is the last. Another server answers a PUT with nothing it can use. Before the
 * fix, a 20 MiB store against the first never settled.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { Server } from 'node:http';
import { ProviderUnavailableError } from '../../src/errors.ts';
import { GcsProvider } from '../../src/providers/gcs.ts';
import { generated } from '../contract/provider-contract.ts';
import { gcsSkipReason, providerConfig, server, testBucket } from './gcs-test-server.ts';

const MiB = 1024 * 1024;

const servers: Server[] = [];
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** How long the store may take before the test calls it hung (it settles in well under a second). */
const HUNG_MS = 15_000;

async function settles<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`the store had not settled after ${HUNG_MS} ms`)), HUNG_MS); });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

describe('gcs resumable uploads the server ends early', { skip: gcsSkipReason ?? false }, () => {
  let endpoint: string;
  let putsSeen = 0;

  before(async () => {
    const upstream = new URL(server().endpoint);
    endpoint = await listen(createServer((req, res) => {
      const headers = { ...req.headers, host: upstream.host };
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(req.headers['content-range'] ?? '');
      if (req.method === 'PUT' && /upload_id=/.test(req.url ?? '') && range) {
        putsSeen++;
        // As the stock emulator does: this PUT finishes the object, whatever the client says.
        headers['content-range'] = `bytes ${range[1]}-${range[2]}/${Number(range[2]) + 1}`;
      }
      const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
        // The session's address names the emulator: its PUTs must come through here too.
        const location = answer.headers.location?.replace(upstream.origin, endpoint);
        res.writeHead(answer.statusCode ?? 502, { ...answer.headers, ...(location ? { location } : {}) });
        answer.pipe(res);
      });
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    }));
  });

  it('fails a 20 MiB store with a typed error and leaves no object', async () => {
    const provider = new GcsProvider(providerConfig(testBucket('early-final'), { api_endpoint: endpoint, simple_upload_threshold: '1MB', chunk_size: '1MB' }), { name: 'gcs-early' });
    const started = Date.now();
    await assert.rejects(settles(provider.upload('e/early.bin', generated(20 * MiB), { contentType: 'application/octet-stream', metadata: {} })), (error: unknown) => {
      assert.ok(error instanceof ProviderUnavailableError, `a ProviderUnavailableError, not ${String(error)}`);
      assert.match(error.message, /ended the upload after 1048576 of at least \d+ bytes/);
      return true;
    });
    assert.ok(Date.now() - started < HUNG_MS);
    assert.equal(putsSeen, 1);
    assert.equal(await provider.exists('e/early.bin'), false, 'the cut-short object was removed');
  });

  it('fails a store whose PUT gets an answer it cannot use', async () => {
    const odd = await listen(createServer((req, res) => {
      req.resume();
      if (req.method === 'POST') {
        res.writeHead(200, { location: `http://${req.headers.host}/upload/storage/v1/b/x/o?upload_id=odd`, 'content-length': '0' });
        return res.end();
      }
      // A 200 with no object at all, mid-upload.
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': '9' });
      res.end('not json!');
    }));
    const provider = new GcsProvider(providerConfig(testBucket('odd'), { api_endpoint: odd, simple_upload_threshold: '1MB', chunk_size: '1MB', max_attempts: 1 }), { name: 'gcs-odd' });
    await assert.rejects(settles(provider.upload('e/odd.bin', generated(20 * MiB), { contentType: 'application/octet-stream', metadata: {} })), (error: unknown) => error instanceof ProviderUnavailableError && /ended the upload after an unknown number of/.test(error.message));
  });
});
