/**
 * Provider migration, side by side with its baseline in one run:
 *   - 10,000 artifacts of 64 KiB migrated local -> S3 (Ceph RGW) by storage.migrate() at
 *     concurrency 8, vs a bare concurrent PutObject loop over the same files at the same
 *     concurrency (target: ratio >= 0.8), medians of BENCH_ROUNDS (3) rounds with the two sides
 *     alternating, each into a fresh bucket; every migration round starts from the same seeded
 *     catalog. The migration does more per artifact than the loop: it reads the catalog, reads the
 *     source whole and checks its SHA-256, signs the PUT with that hash (the gateway, shown once to
 *     refuse a mismatch, checks the body against it: no MD5, no read-back), and switches the row in
 *     a batched transaction. Both sides sign the payload (the loop's SDK hashes each body). Each
 *     round prints both sides' CPU per artifact (this process, all threads) and the load average.
 *   - the peak RSS of migrating one 1 GiB artifact, in a process of its own (target < 150 MB):
 *     from the compiled dist/ (built first), as an installed package runs, which is the target,
 *     BENCH_ROUNDS times (median); and once from the TypeScript sources (not a target: Node's
 *     type stripping loads a compiler).
 * Needs BOARDS_TEST_S3_* (see scripts/s3-server.sh); without them it skips.
 *
 *   node bench/migrate.bench.ts     (BENCH_MIGRATE_COUNT=10000, BENCH_MIGRATE_KIB=64, BENCH_MIGRATE_BIG_MIB=1024, BENCH_ROUNDS=3)
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { benchS3Client } from './s3-client.ts';
import { builtDist } from './dist.ts';
import { median, reportLimit, reportRatio, timed } from './report.ts';

const COUNT = Number(process.env.BENCH_MIGRATE_COUNT ?? 10_000);
const SIZE = Number(process.env.BENCH_MIGRATE_KIB ?? 64) * 1024;
const BIG = Number(process.env.BENCH_MIGRATE_BIG_MIB ?? 1024) * 1024 * 1024;
const CONCURRENCY = 8;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const env = process.env;
const endpoint = env.BOARDS_TEST_S3_ENDPOINT;

const client = benchS3Client;

async function manager(dataDir: string, bucket: string) {
  const { createStorageManager } = await import('../src/manager/create.ts');
  return createStorageManager({
    config: {
      data_dir: dataDir, default_provider: 'local', max_file_size: '2GB',
      providers: {
        local: { type: 'local', config: { base_path: join(dataDir, 'files') } },
        s3: { type: 's3', config: { bucket, endpoint, region: env.BOARDS_TEST_S3_REGION ?? 'us-east-1', access_key_id: env.BOARDS_TEST_S3_ACCESS_KEY, secret_access_key: env.BOARDS_TEST_S3_SECRET_KEY, force_path_style: true } },
      },
    },
    env: {},
  });
}

async function emptyBucket(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    if (!page.Contents?.length) return;
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: page.Contents.map((o) => ({ Key: o.Key! })), Quiet: true } }));
  }
}

/** `size` bytes made as they are read, 1 MiB at a time (a new buffer each: the consumer may keep one). */
async function* generated(size: number): AsyncGenerator<Buffer> {
  const pattern = randomBytes(1024 * 1024);
  for (let offset = 0; offset < size; offset += pattern.length) {
    const chunk = Buffer.from(pattern.subarray(0, Math.min(pattern.length, size - offset)));
    chunk.writeUInt32BE(offset >>> 20, 0);
    yield chunk;
  }
}

/**
 * The 1 GiB migration in a child of its own (plain JavaScript, `node -e`, so that nothing but the
 * manager's own modules is loaded): prints its peak RSS (getrusage) in MB.
 */
function bigChild(dataDir: string, bucket: string, entry: string): string {
  return `
const { createStorageManager } = await import(${JSON.stringify(entry)});
const env = process.env;
const storage = await createStorageManager({
  config: {
    data_dir: ${JSON.stringify(dataDir)}, default_provider: 'local', max_file_size: '2GB',
    providers: {
      local: { type: 'local', config: { base_path: ${JSON.stringify(join(dataDir, 'files'))} } },
      s3: { type: 's3', config: { bucket: ${JSON.stringify(bucket)}, endpoint: env.BOARDS_TEST_S3_ENDPOINT, region: env.BOARDS_TEST_S3_REGION ?? 'us-east-1', access_key_id: env.BOARDS_TEST_S3_ACCESS_KEY, secret_access_key: env.BOARDS_TEST_S3_SECRET_KEY, force_path_style: true } },
    },
  },
  env: {},
});
const result = await storage.migrate({ from: 'local', to: 's3', concurrency: 1 });
await storage.close();
console.log(JSON.stringify({ peakMb: process.resourceUsage().maxRSS / 1024, status: result.status, bytes: result.bytes, failures: result.failures }));
`;
}

async function main(): Promise<void> {
  if (!endpoint) {
    console.log('SKIPPED migrate bench: BOARDS_TEST_S3_ENDPOINT is not set (start the gateway with scripts/s3-server.sh and source its env file)');
    return;
  }
  const s3 = client();
  const prefix = `boards-bench-migrate-${randomUUID().slice(0, 8)}`;
  const buckets: string[] = [];
  const freshBucket = async (label: string) => {
    const bucket = `${prefix}-${label}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    buckets.push(bucket);
    return bucket;
  };
  const dropBucket = async (bucket: string) => {
    await emptyBucket(s3, bucket).catch(() => undefined);
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
  };
  const dataDir = await mkdtemp(join(tmpdir(), 'boards-bench-migrate-'));
  try {
    const seeding = await manager(dataDir, `${prefix}-unused`);
    const keys: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      const ref = await seeding.storeArtifact({ artifactId: `m${i}`, artifactType: 'checkpoint', contentType: 'application/octet-stream', content: randomBytes(SIZE) });
      keys.push(ref.storageKey);
    }
    await seeding.close();
    // Each round migrates the same catalog again: the seeded one, put back before the round.
    const catalog = join(dataDir, 'catalog.sqlite');
    await copyFile(catalog, `${catalog}.seeded`);
    console.log(`seeded ${COUNT} artifacts of ${SIZE / 1024} KiB on local; ${ROUNDS} rounds, the two sides alternating (the machine is shared: figures are noisy)`);

    const files = join(dataDir, 'files');
    const sides: Record<'baseline' | 'migration', (bucket: string) => Promise<number>> = {
      // The baseline: read each file and PutObject it, CONCURRENCY at a time.
      baseline: (bucket) => timed(async () => {
        let next = 0;
        await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
          while (next < keys.length) {
            const key = keys[next++]!;
            await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(join(files, key)), ContentType: 'application/octet-stream' }));
          }
        }));
      }),
      migration: async (bucket) => {
        await copyFile(`${catalog}.seeded`, catalog);
        await rm(`${catalog}-wal`, { force: true });
        await rm(`${catalog}-shm`, { force: true });
        const storage = await manager(dataDir, bucket);
        try {
          return await timed(async () => {
            const report = await storage.migrate({ from: 'local', to: 's3', concurrency: CONCURRENCY });
            if (report.status !== 'completed' || report.counts.verified !== COUNT) throw new Error(`migration ${report.status}: ${JSON.stringify(report.counts)}`);
          });
        } finally {
          await storage.close();
        }
      },
    };
    const rates: Record<keyof typeof sides, number[]> = { baseline: [], migration: [] };
    // CPU per artifact of this process (all its threads) while a side runs: steadier than rates on a shared machine.
    const cpu: Record<keyof typeof sides, number[]> = { baseline: [], migration: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? (['migration', 'baseline'] as const) : (['baseline', 'migration'] as const);
      for (const side of order) {
        const bucket = await freshBucket(`${side.slice(0, 4)}${round}`);
        const before = process.cpuUsage();
        rates[side].push(COUNT / await sides[side](bucket));
        const used = process.cpuUsage(before);
        cpu[side].push((used.user + used.system) / COUNT);
        await dropBucket(bucket);
      }
      console.log(`round ${round + 1}: baseline ${rates.baseline.at(-1)!.toFixed(1)}, migration ${rates.migration.at(-1)!.toFixed(1)} artifacts/s (ratio ${(rates.migration.at(-1)! / rates.baseline.at(-1)!).toFixed(2)}); CPU per artifact ${cpu.baseline.at(-1)!.toFixed(0)} vs ${cpu.migration.at(-1)!.toFixed(0)} µs; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    }
    console.log(`CPU per artifact (medians): baseline ${median(cpu.baseline).toFixed(0)} µs, migration ${median(cpu.migration).toFixed(0)} µs`);
    reportRatio(`migrate ${COUNT} x ${SIZE / 1024} KiB local -> s3 vs bare PutObject loop (concurrency ${CONCURRENCY}, medians of ${ROUNDS} rounds)`, median(rates.migration), median(rates.baseline), 'artifacts/s', 0.8);

    // One large artifact, migrated by a fresh process whose peak RSS is its own: once with the
    // manager from dist/ (the target), once from the sources, each from the same seeded catalog
    // into a fresh bucket.
    const dist = builtDist('src/manager/create.js');
    const bigDir = await mkdtemp(join(tmpdir(), 'boards-bench-migrate-big-'));
    try {
      const bigSeeding = await manager(bigDir, `${prefix}-unused`);
      await bigSeeding.storeArtifact({ artifactId: 'big', artifactType: 'checkpoint', contentType: 'application/octet-stream', content: generated(BIG), size: BIG });
      await bigSeeding.close();
      const bigCatalog = join(bigDir, 'catalog.sqlite');
      await copyFile(bigCatalog, `${bigCatalog}.seeded`);
      const peaks: Record<'dist' | 'sources', number[]> = { dist: [], sources: [] };
      // The target (dist) ROUNDS times, for a median; the sources once, for reference.
      const runs = [...Array.from({ length: ROUNDS }, () => ['dist', dist] as const), ['sources', new URL('../src/manager/create.ts', import.meta.url).href] as const];
      for (const [label, entry] of runs) {
        await copyFile(`${bigCatalog}.seeded`, bigCatalog);
        await rm(`${bigCatalog}-wal`, { force: true });
        await rm(`${bigCatalog}-shm`, { force: true });
        const bucket = await freshBucket(`big-${label.slice(0, 3)}${peaks[label].length}`);
        const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', bigChild(bigDir, bucket, entry)], { maxBuffer: 1024 * 1024, env: process.env });
        const big = JSON.parse(stdout.trim().split('\n').at(-1)!) as { peakMb: number; status: string; bytes: number };
        if (big.status !== 'completed' || big.bytes !== BIG) throw new Error(`1 GiB migration (${label}) ${big.status}, ${big.bytes} bytes: ${stdout}`);
        peaks[label].push(big.peakMb);
        console.log(`1 GiB migration from ${label}: peak RSS ${big.peakMb.toFixed(1)} MB`);
        await dropBucket(bucket);
      }
      const range = `${Math.min(...peaks.dist).toFixed(1)}-${Math.max(...peaks.dist).toFixed(1)}`;
      reportLimit(`migrate one ${BIG / 1024 / 1024} MiB artifact local -> s3: peak RSS, manager from dist, median of ${ROUNDS} (${range}; from the TypeScript sources: ${peaks.sources[0]!.toFixed(1)} MB)`, median(peaks.dist), 'MB', 150);
    } finally {
      await rm(bigDir, { recursive: true, force: true });
    }
  } finally {
    for (const bucket of buckets) await dropBucket(bucket);
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
