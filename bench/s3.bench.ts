/**
 * S3 throughput and memory, side by side with the bare AWS SDK against the same gateway in one run:
 *   - storing a 256 MiB stream through the manager (s3 provider) vs a bare lib-storage Upload
 *   - reading it back through manager.openDownload vs a bare GetObject
 * Each measurement runs in a fresh child process, so its peak RSS is its own and one measurement's
 * garbage cannot slow the next. Rounds alternate the order of candidate and baseline; medians are
 * printed. Needs BOARDS_TEST_S3_* (see scripts/s3-server.sh); without them it skips.
 *
 *   node bench/s3.bench.ts            (BENCH_S3_ROUNDS=5, BENCH_S3_MIB=256)
 */
import { benchS3Client } from './s3-client.ts';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_S3_MIB ?? 256) * MiB;
const ROUNDS = Number(process.env.BENCH_S3_ROUNDS ?? 5);
/** Downloads first read this much by range on both sides, so neither is timed with a cold JIT and connection. */
const WARM_UP_BYTES = 16 * MiB;
/** The provider's defaults, used on both sides. */
const PART_SIZE = 8 * MiB;
const QUEUE_SIZE = 4;
const RATIO_TARGET = 0.9;
const RSS_TARGET_MB = 150;

type Scenario = 'manager-store' | 'sdk-upload' | 'manager-download' | 'sdk-download';
interface Measurement {
  mibPerSecond: number;
  /** Peak resident set of the child process, in MiB. */
  peakRssMb: number;
  /** Resident set once everything was loaded, before the transfer. */
  startRssMb: number;
  key?: string;
}

const env = process.env;
const endpoint = env.BOARDS_TEST_S3_ENDPOINT;

const client = benchS3Client;

/** `size` bytes of non-repeating content in 1 MiB chunks, made as they are read. */
async function* content(size: number): AsyncGenerator<Buffer> {
  for (let offset = 0, n = 0; offset < size; offset += MiB, n++) {
    const chunk = Buffer.allocUnsafe(Math.min(MiB, size - offset)).fill(n & 0xff);
    for (let i = 0; i + 4 <= chunk.length; i += 4096) chunk.writeUInt32BE(n, i);
    yield chunk;
  }
}

async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let count = 0;
  for await (const chunk of stream) count += (chunk as Buffer).length;
  return count;
}

/** One measurement, in this (child) process. */
async function child(scenario: Scenario, bucket: string, key: string): Promise<Measurement> {
  let transfer: () => Promise<string | undefined>;
  let close = async () => {};
  let warmUp = async () => {};
  if (scenario === 'manager-store' || scenario === 'manager-download') {
    const { createStorageManager } = await import('../src/manager/create.ts');
    const dataDir = await mkdtemp(join(tmpdir(), 'boards-bench-s3-'));
    const manager = await createStorageManager({
      config: {
        default_provider: 's3', max_file_size: '1GB', data_dir: dataDir,
        providers: { s3: { type: 's3', config: { bucket, endpoint, region: env.BOARDS_TEST_S3_REGION ?? 'us-east-1', access_key_id: env.BOARDS_TEST_S3_ACCESS_KEY, secret_access_key: env.BOARDS_TEST_S3_SECRET_KEY, force_path_style: true, part_size: PART_SIZE, queue_size: QUEUE_SIZE, sign_payload: false } } },
      },
    });
    close = async () => {
      await manager.close();
      await rm(dataDir, { recursive: true, force: true });
    };
    transfer = scenario === 'manager-store'
      ? async () => (await manager.storeArtifact({ artifactId: 'bench', artifactType: 'model', contentType: 'application/octet-stream', content: Readable.from(content(SIZE)) })).storageKey
      : async () => {
        if (await drain(await manager.openDownload(key, undefined, 's3')) !== SIZE) throw new Error('short read');
        return undefined;
      };
    if (scenario === 'manager-download') warmUp = async () => { await drain(await manager.openDownload(key, { start: 0, end: WARM_UP_BYTES - 1 }, 's3')); };
  } else {
    const s3 = client();
    close = async () => s3.destroy();
    transfer = scenario === 'sdk-upload'
      ? async () => {
        await new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: Readable.from(content(SIZE)) }, partSize: PART_SIZE, queueSize: QUEUE_SIZE }).done();
        return key;
      }
      : async () => {
        const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (await drain(response.Body as Readable) !== SIZE) throw new Error('short read');
        return undefined;
      };
    if (scenario === 'sdk-download') warmUp = async () => { await drain((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=0-${WARM_UP_BYTES - 1}` }))).Body as Readable); };
  }
  await warmUp();
  const startRssMb = process.memoryUsage().rss / MiB;
  const started = performance.now();
  const stored = await transfer();
  const seconds = (performance.now() - started) / 1000;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  await close();
  return { mibPerSecond: SIZE / MiB / seconds, peakRssMb, startRssMb, ...(stored ? { key: stored } : {}) };
}

async function measure(scenario: Scenario, bucket: string, key: string): Promise<Measurement> {
  const { stdout } = await promisify(execFile)(process.execPath, [import.meta.filename, '--child', scenario, bucket, key], { maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Measurement;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function result(name: string, candidate: number[], baseline: number[]): boolean {
  const c = median(candidate);
  const b = median(baseline);
  const ratio = c / b;
  const pass = ratio >= RATIO_TARGET;
  console.log(`RESULT ${name}: candidate ${c.toFixed(1)} MiB/s, baseline ${b.toFixed(1)} MiB/s, ratio ${ratio.toFixed(2)} (target >= ${RATIO_TARGET}) ${pass ? 'PASS' : 'FAIL'}`);
  return pass;
}

async function main(): Promise<void> {
  if (!endpoint) {
    console.warn('\n*** SKIP s3 bench: BOARDS_TEST_S3_ENDPOINT is not set. Start the test gateway with `bash scripts/s3-server.sh start`, then `set -a; . "${BOARDS_S3_DIR:-$TMPDIR/boards-s3}/s3.env"; set +a` and run again. ***\n');
    return;
  }
  const s3 = client();
  const bucket = `boards-bench-${randomUUID().slice(0, 8)}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const runs: Record<Scenario, Measurement[]> = { 'manager-store': [], 'sdk-upload': [], 'manager-download': [], 'sdk-download': [] };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const bareKey = `bare/${round}.bin`;
      const uploads: Scenario[] = round % 2 ? ['sdk-upload', 'manager-store'] : ['manager-store', 'sdk-upload'];
      let managerKey = '';
      for (const scenario of uploads) {
        const m = await measure(scenario, bucket, bareKey);
        if (scenario === 'manager-store') managerKey = m.key!;
        runs[scenario].push(m);
      }
      const downloads: Scenario[] = round % 2 ? ['sdk-download', 'manager-download'] : ['manager-download', 'sdk-download'];
      for (const scenario of downloads) runs[scenario].push(await measure(scenario, bucket, scenario === 'sdk-download' ? bareKey : managerKey));
      await Promise.all([bareKey, managerKey].map((Key) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key }))));
      console.log(`round ${round + 1}/${ROUNDS}: ${Object.entries(runs).map(([name, ms]) => `${name} ${ms.at(-1)!.mibPerSecond.toFixed(1)} MiB/s (peak RSS ${ms.at(-1)!.peakRssMb.toFixed(0)} MB)`).join(', ')}`);
    }
  } finally {
    const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    await Promise.all((left.Contents ?? []).map((o) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }))));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    s3.destroy();
  }
  const rate = (s: Scenario) => runs[s].map((m) => m.mibPerSecond);
  console.log(`s3 bench: ${SIZE / MiB} MiB, part_size ${PART_SIZE / MiB} MiB, queue_size ${QUEUE_SIZE}, ${ROUNDS} rounds, medians; each measurement in a fresh process`);
  // The bare SDK signs each body (one SHA-256 pass) and the manager hashes each artifact (one pass);
  // over this plain-http gateway the provider would by default also sign (a second pass), which it
  // does not do over https. sign_payload: false gives both sides one pass, as in production on https.
  console.log('s3 bench: the manager runs with sign_payload: false (its https default), so each side hashes every byte once');
  const stored = result('s3 store (manager vs lib-storage Upload)', rate('manager-store'), rate('sdk-upload'));
  const downloaded = result('s3 download (manager.openDownload vs GetObject)', rate('manager-download'), rate('sdk-download'));
  const peak = Math.max(...runs['manager-store'].map((m) => m.peakRssMb), ...runs['manager-download'].map((m) => m.peakRssMb));
  // Resident before the transfer (everything loaded) and the peak, per scenario: the difference is
  // what the transfer itself cost, which the idle sizes of the two sides would otherwise hide.
  for (const scenario of Object.keys(runs) as Scenario[]) {
    const idle = median(runs[scenario].map((m) => m.startRssMb));
    const peaks = runs[scenario].map((m) => m.peakRssMb);
    console.log(`s3 memory: ${scenario}: ${idle.toFixed(0)} MB resident before the transfer, peak ${median(peaks).toFixed(0)} MB median, ${Math.max(...peaks).toFixed(0)} MB max`);
  }
  console.log(`RESULT s3 peak RSS: ${peak.toFixed(0)} MB (target < ${RSS_TARGET_MB}) ${peak < RSS_TARGET_MB ? 'PASS' : 'FAIL'}`);
  // bench/run.ts counts a non-zero exit as a missed target.
  if (!stored || !downloaded || peak >= RSS_TARGET_MB) process.exitCode = 1;
}

if (process.argv[2] === '--child') {
  const [, , , scenario, bucket, key] = process.argv;
  console.log(JSON.stringify(await child(scenario as Scenario, bucket!, key!)));
} else {
  await main();
}
