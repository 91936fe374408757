import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { startTestServer } from '../server/server-harness.ts';
import { tempDir } from '../helpers.ts';
import { readZip } from './zip-reader.ts';

const MiB = 1024 * 1024;
const ARTIFACTS = 5;
const ARTIFACT_BYTES = 64 * MiB;
/** What the server's and the client's buffers may add to the process while 320 MiB pass through: a quarter of it. */
const RSS_ALLOWANCE = 80 * MiB;

/** `size` bytes made on the fly (a random block, stamped per chunk so artifacts differ), never held whole. */
async function* generated(seed: number, size: number, block: Buffer, hash: ReturnType<typeof createHash>): AsyncGenerator<Uint8Array> {
  for (let offset = 0, n = 0; offset < size; offset += block.length, n++) {
    const chunk = Buffer.from(block.subarray(0, Math.min(block.length, size - offset)));
    chunk.writeUInt32BE(seed, 0);
    chunk.writeUInt32BE(n, 4);
    hash.update(chunk);
    yield chunk;
  }
}

describe('board archive memory', () => {
  it('streams a 320 MiB board as a zip with flat memory, every entry matching its SHA-256', async () => {
    const server = await startTestServer();
    const block = randomBytes(MiB);
    const expected = new Map<string, string>();
    const refs: string[] = [];
    for (let i = 0; i < ARTIFACTS; i++) {
      const hash = createHash('sha256');
      const ref = await server.storage.storeArtifact({ artifactId: `weights-${i}`, artifactType: 'lora', contentType: 'application/octet-stream', variant: 'weights.safetensors', content: generated(i, ARTIFACT_BYTES, block, hash), tenantId: 't1', boardId: 'big' });
      assert.equal(ref.sha256, hash.digest('hex'));
      expected.set(`lora/weights-${i}.safetensors`, ref.sha256);
      refs.push(ref.storageKey);
    }

    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20);
    const file = join(await tempDir('archive-memory'), 'big.zip');
    const started = performance.now();
    try {
      const res = await fetch(`${server.url}/v1/boards/big/archive`, { headers: await server.as('t1') });
      assert.equal(res.status, 200);
      await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(file));
      assert.equal((await stat(file)).size, Number(res.headers.get('content-length')));
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - started) / 1000;
    const growth = peak - baseline;
    console.log(`archive of ${ARTIFACTS * ARTIFACT_BYTES / MiB} MiB: ${seconds.toFixed(1)} s, RSS ${(baseline / MiB).toFixed(0)} MiB before, peak +${(growth / MiB).toFixed(1)} MiB`);
    assert.ok(growth < RSS_ALLOWANCE, `RSS grew by ${(growth / MiB).toFixed(1)} MiB while archiving ${ARTIFACTS * ARTIFACT_BYTES / MiB} MiB (allowed ${RSS_ALLOWANCE / MiB} MiB)`);

    // The baseline, in the same run: the same bytes as plain GETs of each artifact, one after another.
    const plainStarted = performance.now();
    for (const ref of refs) {
      const res = await fetch(`${server.url}/v1/artifacts/${ref}`, { headers: await server.as('t1') });
      await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), createWriteStream(`${file}.plain`));
    }
    const plainSeconds = (performance.now() - plainStarted) / 1000;
    console.log(`the same bytes as ${ARTIFACTS} plain GETs: ${plainSeconds.toFixed(1)} s; archive/plain time ${(seconds / plainSeconds).toFixed(2)}`);

    const { names, files } = await readZip(file, 0);
    assert.deepEqual(names.slice(1).sort(), [...expected.keys()].sort());
    for (const [name, sha] of expected) {
      assert.equal(files.get(name)!.sha256, sha, name);
      assert.equal(files.get(name)!.size, ARTIFACT_BYTES, name);
    }
  });
});
