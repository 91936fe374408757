/**
 * S3 throughput and memory, side by side with the bare AWS SDK against the same gateway in one run:
 *   - storing a 256 MiB stream through the manager (s3 provider) vs a bare lib-storage Upload of the
 *     same stream (target: ratio >= 0.9; the manager's peak RSS at most 150 MB)
 *   - reading it back through manager.openDownload vs a bare GetObject (target: ratio >= 0.9)
 * Each measurement runs in a fresh child process (plain JavaScript, `node -e`), so its peak RSS is
 * its own and one measurement's garbage cannot slow the next. The manager runs from the compiled
 * dist/ (built first), as an installed package does; the store is measured from the TypeScript
 * sources too (not a target: Node's type stripping loads a compiler, ~30 MB). Rounds alternate the
 * order of candidate and baseline; medians are printed. Needs BOARDS_TEST_S3_* (see
 * scripts/s3-server.sh); without them it skips.
 *
 *   node bench/s3.bench.ts            (BENCH_S3_ROUNDS=5, BENCH_S3_MIB=256)
 */
import { benchS3Client } from './s3-client.ts';
import { builtDist } from './dist.ts';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { median, reportLimit, reportRatio } from './report.ts';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_S3_MIB ?? 256) * MiB;
const ROUNDS = Number(process.env.BENCH_S3_ROUNDS ?? 5);
/** Downloads first read this much by range on both sides, so neither is timed with a cold JIT and connection. */
const WARM_UP_BYTES = 16 * MiB;
/** The provider's defaults (part_size, queue_size), given to lib-storage's Upload too. */
const PART_SIZE = 8 * MiB;
const QUEUE_SIZE = 3;
const RATIO_TARGET = 0.9;
const RSS_TARGET_MB = 150;
const root = fileURLToPath(new URL('..', import.meta.url));

type Scenario = 'store-dist' | 'store-sources' | 'sdk-upload' | 'download-dist' | 'sdk-download';
interface Measurement {
  mibPerSecond: number;
  /** Peak resident set of the child process (getrusage), in MB. */
  peakRssMb: number;
  /** Resident set once everything was loaded, before the transfer. */
  startRssMb: number;
  key?: string;
}

const env = process.env;
const endpoint = env.BOARDS_TEST_S3_ENDPOINT;

/**
 * One child's program. Both sides read the same content: `size` bytes of non-repeating content in
 * 1 MiB chunks, made as they are read, through Readable.from (its default buffering, 16 chunks).
 */
function childSource(scenario: Scenario, entry: string, bucket: string, key: string): string {
  const prelude = `
const MiB = ${MiB}, SIZE = ${SIZE}, PART_SIZE = ${PART_SIZE}, QUEUE_SIZE = ${QUEUE_SIZE}, WARM_UP_BYTES = ${WARM_UP_BYTES};
const bucket = ${JSON.stringify(bucket)}, key = ${JSON.stringify(key)};
const env = process.env;
const { Readable } = await import('node:stream');
async function* content(size) {
  for (let offset = 0, n = 0; offset < size; offset += MiB, n++) {
    const chunk = Buffer.allocUnsafe(Math.min(MiB, size - offset)).fill(n & 0xff);
    for (let i = 0; i + 4 <= chunk.length; i += 4096) chunk.writeUInt32BE(n, i);
    yield chunk;
  }
}
async function drain(stream) {
  let count = 0;
  for await (const chunk of stream) count += chunk.length;
  if (count !== SIZE) throw new Error('short read: ' + count);
}
async function measure(warmUp, transfer, close) {
  await warmUp();
  const startRssMb = process.memoryUsage().rss / MiB;
  const started = performance.now();
  const stored = await transfer();
  const seconds = (performance.now() - started) / 1000;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  await close();
  console.log(JSON.stringify({ mibPerSecond: SIZE / MiB / seconds, peakRssMb, startRssMb, ...(stored ? { key: stored } : {}) }));
}
`;
  if (scenario === 'sdk-upload' || scenario === 'sdk-download') {
    return `${prelude}
const { S3Client, GetObjectCommand } = await import('@aws-sdk/client-s3');
const { Upload } = await import('@aws-sdk/lib-storage');
const s3 = new S3Client({
  endpoint: env.BOARDS_TEST_S3_ENDPOINT, region: env.BOARDS_TEST_S3_REGION ?? 'us-east-1', forcePathStyle: true,
  credentials: { accessKeyId: env.BOARDS_TEST_S3_ACCESS_KEY ?? '', secretAccessKey: env.BOARDS_TEST_S3_SECRET_KEY ?? '' },
  requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
});
const upload = async () => {
  await new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: Readable.from(content(SIZE)) }, partSize: PART_SIZE, queueSize: QUEUE_SIZE }).done();
  return key;
};
const download = async () => { await drain((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body); };
const warmUp = async () => {
  if (${JSON.stringify(scenario)} === 'sdk-download') for await (const _ of (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-' + (WARM_UP_BYTES - 1) }))).Body);
};
await measure(warmUp, ${JSON.stringify(scenario)} === 'sdk-upload' ? upload : download, async () => s3.destroy());
`;
  }
  return `${prelude}
const { createStorageManager } = await import(${JSON.stringify(entry)});
const { mkdtemp, rm } = await import('node:fs/promises');
const dataDir = await mkdtemp((await import('node:path')).join((await import('node:os')).tmpdir(), 'boards-bench-s3-'));
// sign_payload: false, as the provider does by default over https: each side then hashes every byte once
// (the bare SDK its SigV4 payload hash, the manager its SHA-256 of the artifact).
const manager = await createStorageManager({
  config: {
    default_provider: 's3', max_file_size: '1GB', data_dir: dataDir,
    providers: { s3: { type: 's3', config: { bucket, endpoint: env.BOARDS_TEST_S3_ENDPOINT, region: env.BOARDS_TEST_S3_REGION ?? 'us-east-1', access_key_id: env.BOARDS_TEST_S3_ACCESS_KEY, secret_access_key: env.BOARDS_TEST_S3_SECRET_KEY, force_path_style: true, sign_payload: false } } },
  },
});
const store = async () => (await manager.storeArtifact({ artifactId: 'bench', artifactType: 'model', contentType: 'application/octet-stream', content: Readable.from(content(SIZE)) })).storageKey;
const download = async () => { await drain(await manager.openDownload(key, undefined, 's3')); };
const warmUp = async () => {
  if (${JSON.stringify(scenario)} === 'download-dist') for await (const _ of await manager.openDownload(key, { start: 0, end: WARM_UP_BYTES - 1 }, 's3'));
};
await measure(warmUp, ${JSON.stringify(scenario)} === 'download-dist' ? download : store, async () => {
  await manager.close();
  await rm(dataDir, { recursive: true, force: true });
});
`;
}

async function measure(scenario: Scenario, entry: string, bucket: string, key: string): Promise<Measurement> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', childSource(scenario, entry, bucket, key)], { cwd: root, maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Measurement;
}

async function main(): Promise<void> {
  if (!endpoint) {
    console.warn('\n*** SKIP s3 bench: BOARDS_TEST_S3_ENDPOINT is not set. Start the test gateway with `bash scripts/s3-server.sh start`, then `set -a; . "${BOARDS_S3_DIR:-$TMPDIR/boards-s3}/s3.env"; set +a` and run again. ***\n');
    return;
  }
  const entries = { dist: builtDist('src/manager/create.js'), sources: new URL('../src/manager/create.ts', import.meta.url).href };
  const entryOf = (scenario: Scenario) => (scenario === 'store-sources' ? entries.sources : entries.dist);
  const s3 = benchS3Client();
  const bucket = `boards-bench-${randomUUID().slice(0, 8)}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const runs: Record<Scenario, Measurement[]> = { 'store-dist': [], 'sdk-upload': [], 'store-sources': [], 'download-dist': [], 'sdk-download': [] };
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const bareKey = `bare/${round}.bin`;
      const uploads: Scenario[] = round % 2 ? ['sdk-upload', 'store-sources', 'store-dist'] : ['store-dist', 'store-sources', 'sdk-upload'];
      const stored: string[] = [bareKey];
      let managerKey = '';
      for (const scenario of uploads) {
        const m = await measure(scenario, entryOf(scenario), bucket, bareKey);
        if (scenario !== 'sdk-upload') stored.push(m.key!);
        if (scenario === 'store-dist') managerKey = m.key!;
        runs[scenario].push(m);
      }
      const downloads: Scenario[] = round % 2 ? ['sdk-download', 'download-dist'] : ['download-dist', 'sdk-download'];
      for (const scenario of downloads) runs[scenario].push(await measure(scenario, entryOf(scenario), bucket, scenario === 'sdk-download' ? bareKey : managerKey));
      await Promise.all(stored.map((Key) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key }))));
      console.log(`round ${round + 1}/${ROUNDS}: ${Object.entries(runs).map(([name, ms]) => `${name} ${ms.at(-1)!.mibPerSecond.toFixed(1)} MiB/s (peak RSS ${ms.at(-1)!.peakRssMb.toFixed(0)} MB)`).join(', ')}`);
    }
  } finally {
    const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    await Promise.all((left.Contents ?? []).map((o) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }))));
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    s3.destroy();
  }
  const rate = (s: Scenario) => median(runs[s].map((m) => m.mibPerSecond));
  const peak = (s: Scenario) => median(runs[s].map((m) => m.peakRssMb));
  console.log(`s3 bench: ${SIZE / MiB} MiB, part_size ${PART_SIZE / MiB} MiB, queue_size ${QUEUE_SIZE}, ${ROUNDS} rounds, medians; each measurement in a fresh process, the manager from dist/`);
  console.log('s3 bench: the manager runs with sign_payload: false (its https default), so each side hashes every byte once');
  reportRatio('s3 store (manager from dist vs lib-storage Upload)', rate('store-dist'), rate('sdk-upload'), 'MiB/s', RATIO_TARGET);
  reportRatio('s3 download (manager.openDownload from dist vs GetObject)', rate('download-dist'), rate('sdk-download'), 'MiB/s', RATIO_TARGET);
  // Resident before the transfer (everything loaded) and the peak, per scenario: the difference is
  // what the transfer itself cost, which the idle sizes of the two sides would otherwise hide.
  for (const scenario of Object.keys(runs) as Scenario[]) {
    const idle = median(runs[scenario].map((m) => m.startRssMb));
    const peaks = runs[scenario].map((m) => m.peakRssMb);
    console.log(`s3 memory: ${scenario}: ${idle.toFixed(0)} MB resident before the transfer, peak ${median(peaks).toFixed(0)} MB median (${Math.min(...peaks).toFixed(0)}-${Math.max(...peaks).toFixed(0)})`);
  }
  reportLimit(`s3 store ${SIZE / MiB} MiB: peak RSS from dist, median (bare lib-storage Upload ${peak('sdk-upload').toFixed(0)} MB; from the TypeScript sources ${peak('store-sources').toFixed(0)} MB)`, peak('store-dist'), 'MB', RSS_TARGET_MB);
}

await main();
