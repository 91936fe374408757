/**
 * `npm ci` of the repository, as a contributor runs it: the committed tree cloned into a temporary
 * directory, installed on a warm npm cache (one unmeasured install warms it first). Targets: under
 * 60 s, `node_modules` under 350 MB (disk usage, as `du` counts it), nothing compiled, and one
 * version of each `@aws-sdk/*` package. Baseline in the same run, alternating with the installs:
 * copying the installed `node_modules` to a new directory, what the disk itself takes to write the
 * same files. Medians of the rounds.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, reportLimit } from './report.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'install-'));

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`bench: ${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** The commit being measured: this checkout's HEAD (uncommitted changes are not part of an install). */
const commit = run('git', ['rev-parse', 'HEAD'], root).trim();

/** A fresh clone of the committed tree; `npm ci` in it; seconds taken. */
function install(): { seconds: number; dir: string } {
  const dir = mkdtempSync(join(work, 'clone-'));
  run('git', ['clone', '--quiet', '--no-hardlinks', '--no-checkout', root, dir], work);
  run('git', ['checkout', '--quiet', commit], dir);
  const started = performance.now();
  run('npm', ['ci', '--no-audit', '--no-fund'], dir);
  return { seconds: (performance.now() - started) / 1000, dir };
}

/** Copying an installed node_modules: the same files written by the same disk, without npm. */
function copy(from: string): number {
  const to = mkdtempSync(join(work, 'copy-'));
  const started = performance.now();
  cpSync(join(from, 'node_modules'), join(to, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  const seconds = (performance.now() - started) / 1000;
  rmSync(to, { recursive: true, force: true });
  return seconds;
}

interface TreeFigures { diskBytes: number; apparentBytes: number; files: number; packages: Map<string, number> }

/** Disk usage as `du` counts it (allocated blocks, a hard-linked file once) and the biggest top-level packages. */
function measureTree(dir: string): TreeFigures {
  const seen = new Set<string>();
  const figures: TreeFigures = { diskBytes: 0, apparentBytes: 0, files: 0, packages: new Map() };
  const walk = (path: string, top: string | undefined): void => {
    const stat = lstatSync(path, { bigint: false });
    const id = `${stat.dev}:${stat.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    const bytes = stat.blocks * 512;
    figures.diskBytes += bytes;
    figures.apparentBytes += stat.size;
    if (top) figures.packages.set(top, (figures.packages.get(top) ?? 0) + bytes);
    if (!stat.isDirectory()) { figures.files++; return; }
    for (const name of readdirSync(path)) {
      const child = join(path, name);
      const isScope = top === undefined && name.startsWith('@');
      if (top === undefined && !isScope && !name.startsWith('.')) walk(child, name);
      else if (isScope) for (const scoped of readdirSync(child)) walk(join(child, scoped), `${name}/${scoped}`);
      else walk(child, top);
    }
  };
  walk(join(dir, 'node_modules'), undefined);
  return figures;
}

/** Native addons built on this machine: node-gyp leaves `build/` beside a package's binding.gyp. */
function compiledAddons(dir: string): string[] {
  const built: string[] = [];
  const visit = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.isSymbolicLink()) continue;
      const child = join(path, entry.name);
      if (existsSync(join(child, 'binding.gyp')) && existsSync(join(child, 'build'))) built.push(child.slice(dir.length + 1));
      visit(child);
    }
  };
  visit(join(dir, 'node_modules'));
  return built;
}

/** Packages of a scope installed in more than one version (from the lockfile the install followed). */
function duplicateVersions(dir: string, scope: string): string[] {
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const versions = new Map<string, Set<string>>();
  for (const [path, entry] of Object.entries(lock.packages)) {
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (!name.startsWith(scope) || !entry.version) continue;
    versions.set(name, (versions.get(name) ?? new Set()).add(entry.version));
  }
  return [...versions].filter(([, v]) => v.size > 1).map(([name, v]) => `${name}@${[...v].join(',')}`);
}

try {
  // Warms the npm cache with exactly what the lockfile names; not measured.
  const warm = install();
  rmSync(warm.dir, { recursive: true, force: true });

  const installs: number[] = [];
  const copies: number[] = [];
  let last: string | undefined;
  for (let round = 0; round < ROUNDS; round++) {
    if (last) rmSync(last, { recursive: true, force: true });
    const { seconds, dir } = install();
    installs.push(seconds);
    copies.push(copy(dir));
    last = dir;
  }

  const tree = measureTree(last!);
  const MB = 1024 * 1024;
  const biggest = [...tree.packages].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([name, bytes]) => `${name} ${(bytes / MB).toFixed(0)}`).join(', ');
  console.log(`npm ci ${installs.map((s) => s.toFixed(1)).join(' / ')} s; copying node_modules ${copies.map((s) => s.toFixed(1)).join(' / ')} s`);
  console.log(`node_modules: ${tree.files} files, ${(tree.diskBytes / MB).toFixed(0)} MB on disk (${(tree.apparentBytes / MB).toFixed(0)} MB of content); biggest (MB): ${biggest}`);
  const compiled = compiledAddons(last!);
  const duplicates = duplicateVersions(last!, '@aws-sdk/');
  reportLimit('npm ci on a warm cache', median(installs), `s (copying the same node_modules: ${median(copies).toFixed(1)} s)`, 60);
  reportLimit('node_modules after npm ci, disk usage', tree.diskBytes / MB, 'MB', 350);
  reportLimit(`native addons compiled by npm ci${compiled.length ? ` (${compiled.join(', ')})` : ''}`, compiled.length, 'addons', 1);
  reportLimit(`@aws-sdk packages in more than one version${duplicates.length ? ` (${duplicates.join('; ')})` : ''}`, duplicates.length, 'packages', 1);
} finally {
  rmSync(work, { recursive: true, force: true });
}
