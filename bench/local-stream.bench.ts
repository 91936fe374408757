/**
 * Storing one 1 GiB stream on the local provider through the manager (size limit, sniffing,
 * SHA-256, temp file, fsync, rename, metadata) against fs.createWriteStream through a SHA-256 hash,
 * in the same process run: target >= 0.9 of the baseline's throughput, peak RSS < 100 MB.
 * The two sides alternate (A B, B A, ...) so that both meet the same disk and page-cache state.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createStorageManager } from '../src/manager/create.ts';
import { median, MiB, reportLimit, reportRatio, timed, withPeakRss } from './report.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BIG = Number(process.env.BENCH_BIG_BYTES ?? 1024 * MiB);

const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'boards-bench-local-'));
// A small pool keeps the harness's own memory out of the RSS figure.
const pool = Array.from({ length: 4 }, () => randomBytes(MiB));
/** `size` bytes in 1 MiB chunks, cycling through distinct random buffers (made once, outside the timing). */
async function* stream(size: number): AsyncGenerator<Buffer> {
  for (let sent = 0, i = 0; sent < size; sent += MiB, i++) yield pool[i % pool.length]!.subarray(0, Math.min(MiB, size - sent));
}

try {
  const storage = await createStorageManager({ config: { data_dir: join(root, 'state'), max_file_size: '2GB', providers: { local: { type: 'local', config: { base_path: join(root, 'files') } } } }, env: {} });
  // 1. One large stream.
  const managerSeconds: number[] = [];
  const baselineSeconds: number[] = [];
  let peakMb = 0;
  const baseline = async () => {
    const target = join(root, 'baseline.bin');
    baselineSeconds.push(await timed(async () => {
      const hash = createHash('sha256');
      await pipeline(Readable.from(stream(BIG)), new Transform({ transform(c: Buffer, _e, cb) { hash.update(c); cb(null, c); } }), createWriteStream(target));
      hash.digest('hex');
    }));
    await rm(target);
  };
  const manager = async () => {
    globalThis.gc?.();
    const { result, peakMb: peak } = await withPeakRss(async () => {
      let key = '';
      const seconds = await timed(async () => {
        key = (await storage.storeArtifact({ artifactId: 'big', artifactType: 'checkpoint', contentType: 'application/octet-stream', content: stream(BIG), variant: 'model.safetensors' })).storageKey;
      });
      return { seconds, key };
    });
    managerSeconds.push(result.seconds);
    peakMb = Math.max(peakMb, peak);
    await storage.deleteArtifact(result.key);
  };
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) { await manager(); await baseline(); } else { await baseline(); await manager(); }
  }
  const mbps = (s: number) => BIG / MiB / s;
  console.log(`1 GiB stream, ${ROUNDS} rounds: manager ${managerSeconds.map((s) => mbps(s).toFixed(0)).join(', ')} MiB/s; baseline ${baselineSeconds.map((s) => mbps(s).toFixed(0)).join(', ')} MiB/s`);
  reportRatio('local 1 GiB store vs createWriteStream+sha256', mbps(median(managerSeconds)), mbps(median(baselineSeconds)), 'MiB/s', 0.9);
  reportLimit('local 1 GiB store peak RSS', peakMb, 'MB', 100);

  await storage.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
