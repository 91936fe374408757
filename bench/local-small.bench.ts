/**
 * Storing 10,000 artifacts of 64 KiB one after another through the manager on the local provider
 * (validation, SHA-256, temp file, rename, metadata index) against FlyDrive's disk.put of the same
 * bytes into a fresh directory (no metadata, not atomic): target >= 1.0 of its files/s (issue 14). The same
 * run with `fsync: true` (each object and index entry flushed to the disk) is printed beside it.
 * The two sides alternate in blocks of 500 (A B, B A, ...) so both meet the same disk state.
 * The process's CPU time per file (all threads) is printed for both sides: steadier than files/s
 * on a busy machine.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Disk } from 'flydrive';
import { FSDriver } from 'flydrive/drivers/fs';
import { createStorageManager } from '../src/manager/create.ts';
import { median, reportRatio, timed } from './report.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SMALL_COUNT = Number(process.env.BENCH_SMALL_COUNT ?? 10_000);
const BLOCK = 500;
const SMALL = 64 * 1024;

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / 1e6;
}

const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'boards-bench-small-'));
try {
  const body = randomBytes(SMALL);
  const managerRates: number[] = [];
  const flydriveRates: number[] = [];
  const durableRates: number[] = [];
  let managerCpu = 0;
  let flydriveCpu = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const disk = new Disk(new FSDriver({ location: join(root, `flydrive-${round}`), visibility: 'private' }));
    const roundStorage = await createStorageManager({ config: { data_dir: join(root, 'state'), providers: { local: { type: 'local', config: { base_path: join(root, `files-${round}`) } } } }, env: {} });
    const durableStorage = await createStorageManager({ config: { data_dir: join(root, 'state'), providers: { local: { type: 'local', config: { base_path: join(root, `durable-${round}`), fsync: true } } } }, env: {} });
    let flydriveSeconds = 0;
    let managerSeconds = 0;
    let durableSeconds = 0;
    const flydriveBlock = async (from: number) => {
      const cpu = process.cpuUsage();
      flydriveSeconds += await timed(async () => {
        for (let i = from; i < from + BLOCK; i++) await disk.put(`bench/model/b${i % 10}/a${i}_20260101000000_${String(i).padStart(8, '0')}/original.bin`, body);
      });
      flydriveCpu += cpuSeconds(cpu);
    };
    const managerBlock = async (from: number) => {
      const cpu = process.cpuUsage();
      managerSeconds += await timed(async () => {
        for (let i = from; i < from + BLOCK; i++) await roundStorage.storeArtifact({ artifactId: `a${i}`, artifactType: 'model', boardId: `b${i % 10}`, contentType: 'application/octet-stream', content: body, tenantId: 'bench' });
      });
      managerCpu += cpuSeconds(cpu);
    };
    const durableBlock = async (from: number) => {
      durableSeconds += await timed(async () => {
        for (let i = from; i < from + BLOCK; i++) await durableStorage.storeArtifact({ artifactId: `a${i}`, artifactType: 'model', boardId: `b${i % 10}`, contentType: 'application/octet-stream', content: body, tenantId: 'bench' });
      });
    };
    for (let from = 0, block = 0; from < SMALL_COUNT; from += BLOCK, block++) {
      if (block % 2 === round % 2) { await flydriveBlock(from); await managerBlock(from); } else { await managerBlock(from); await flydriveBlock(from); }
      await durableBlock(from);
    }
    flydriveRates.push(SMALL_COUNT / flydriveSeconds);
    managerRates.push(SMALL_COUNT / managerSeconds);
    durableRates.push(SMALL_COUNT / durableSeconds);
    await roundStorage.close();
    await durableStorage.close();
    await rm(join(root, `durable-${round}`), { recursive: true });
    await rm(join(root, `flydrive-${round}`), { recursive: true });
    await rm(join(root, `files-${round}`), { recursive: true });
  }
  console.log(`${SMALL_COUNT} x 64 KiB, ${ROUNDS} rounds: manager ${managerRates.map((r) => r.toFixed(0)).join(', ')} files/s; flydrive ${flydriveRates.map((r) => r.toFixed(0)).join(', ')} files/s`);
  console.log(`CPU per file (all threads, all rounds): manager ${(managerCpu / SMALL_COUNT / ROUNDS * 1e6).toFixed(0)} µs, flydrive ${(flydriveCpu / SMALL_COUNT / ROUNDS * 1e6).toFixed(0)} µs`);
  reportRatio('local 10k x 64 KiB stores vs FlyDrive disk.put', median(managerRates), median(flydriveRates), 'files/s', 1.0);
  console.log(`INFO local 10k x 64 KiB stores with fsync: true: ${median(durableRates).toFixed(1)} files/s, ratio ${(median(durableRates) / median(flydriveRates)).toFixed(2)} to FlyDrive (no target: FlyDrive does not flush)`);
} finally {
  await rm(root, { recursive: true, force: true });
}
