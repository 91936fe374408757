/**
 * `import 'boards-storage'` plus one small store on createDevelopmentStorage(), each in a fresh
 * process, beside bare Node in the same run: peak RSS (target at most 70 MB) and the time from the
 * import to the stored artifact (target at most 250 ms). Measured twice: from the compiled dist/
 * (what an installed package runs; built here first) and from the TypeScript sources (Node strips
 * the types at run time, which loads its own compiler and costs memory). The three kinds of process
 * alternate in every round; medians of the rounds.
 */
import { spawnSync } from 'node:child_process';
import { loadavg, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { median, reportLimit } from './report.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const root = fileURLToPath(new URL('..', import.meta.url));

const build = spawnSync(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) throw new Error('bench: building dist/ failed');

/** What a child does and prints: its peak RSS, the time from before the import to after the store, and the packages it loaded. */
const child = (entry: string | undefined) => `
const started = performance.now();
const cpuStarted = process.cpuUsage();
${entry === undefined
    ? `const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
const dir = await mkdtemp(process.env.BENCH_TMP + '/bare-');
await writeFile(dir + '/a.txt', new TextEncoder().encode('hello, footprint'));`
    : `const { createDevelopmentStorage } = await import(${JSON.stringify(entry)});
const { mkdtemp, rm } = await import('node:fs/promises');
const dir = await mkdtemp(process.env.BENCH_TMP + '/lib-');
const storage = await createDevelopmentStorage({ dataDir: dir });
await storage.storeArtifact({ artifactId: 'a', artifactType: 'text', contentType: 'text/plain', content: new TextEncoder().encode('hello, footprint') });
await storage.close();`}
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpuStarted);
await rm(dir, { recursive: true });
console.log(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, rssMb: process.resourceUsage().maxRSS / 1024 }));
`;

/** `cpuMs`: CPU time of the child's threads over the same span, which a loaded machine stretches less than the wall time. */
interface Sample { ms: number; cpuMs: number; rssMb: number }

function run(entry: string | undefined): Sample {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', child(entry)], {
    cwd: root, encoding: 'utf8', env: { ...process.env, BENCH_TMP: process.env.BENCH_DIR ?? tmpdir() },
  });
  if (result.status !== 0) throw new Error(`bench child failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Sample;
}

// 'boards-storage' resolves through the package's own exports to dist/, as it does for a user.
const kinds: Record<string, string | undefined> = {
  'bare Node': undefined,
  'dist (import \'boards-storage\')': 'boards-storage',
  'sources (src/index.ts)': new URL('../src/index.ts', import.meta.url).href,
};
const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  const order = Object.keys(kinds);
  if (round % 2) order.reverse();
  for (const kind of order) samples[kind]!.push(run(kinds[kind]));
}

const figure = (kind: string) => ({ ms: median(samples[kind]!.map((s) => s.ms)), cpuMs: median(samples[kind]!.map((s) => s.cpuMs)), rssMb: median(samples[kind]!.map((s) => s.rssMb)) });
const bare = figure('bare Node');
for (const kind of Object.keys(kinds)) {
  const f = figure(kind);
  console.log(`${kind.padEnd(32)} peak RSS ${f.rssMb.toFixed(1)} MB (+${(f.rssMb - bare.rssMb).toFixed(1)} over bare Node), import + store ${f.ms.toFixed(0)} ms (CPU ${f.cpuMs.toFixed(0)} ms)`);
}
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} (time figures stretch with it; the CPU figures less)`);
const dist = figure('dist (import \'boards-storage\')');
const source = figure('sources (src/index.ts)');
reportLimit('library import + one store, peak RSS from dist', dist.rssMb, `MB (bare Node ${bare.rssMb.toFixed(1)} MB)`, 70);
reportLimit('library import + one store, time from dist', dist.ms, `ms (bare Node write ${bare.ms.toFixed(0)} ms)`, 250);
console.log(`from sources (not a target; type stripping loads Node's TypeScript compiler): peak RSS ${source.rssMb.toFixed(1)} MB, ${source.ms.toFixed(0)} ms`);
