import { execFile, spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** A temporary directory removed after the test file. */
export async function tempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `boards-${label}-`));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Every file below `dir` (not directories), relative, sorted. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

/** Files below a local provider's base other than its index: objects, and anything left in ~tmp. */
export async function storedFiles(dir: string): Promise<string[]> {
  // The local provider's own files at its base: its index (or where it is kept) and its journals (one per process).
  return (await filesUnder(dir)).filter((f) => !f.startsWith('~index.') && !/^~journal(\.\d+)?$/.test(f));
}

/** The CLI's entry point, for tests that spawn it themselves (e.g. a long-running `serve`). */
export const cliBin = fileURLToPath(new URL('../bin/boards-storage.js', import.meta.url));

export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the real CLI in `cwd` on the embedded default (no config file, no data-dir override) plus `env`. */
export async function runCli(cwd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cliBin, ...args], {
      cwd, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, BOARDS_STORAGE_CONFIG: '', BOARDS_STORAGE_DATA_DIR: '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as CliResult;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export interface ServeProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** Its exit code, once it has exited. */
  exited: Promise<number | null>;
  /** Everything it has printed so far (kept up to date while it runs). */
  stdout: string;
  stderr: string;
}

/** Spawns `boards-storage serve` with `args` and resolves once its banner is printed (it ends with "Other tokens:"). */
export async function startServe(cwd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ServeProcess> {
  const child = spawn(process.execPath, [cliBin, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const serve: ServeProcess = { child, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))), stdout: '', stderr: '' };
  child.stderr.on('data', (c: Buffer) => { serve.stderr += c.toString(); });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner within ${timeoutMs / 1000} s; stdout: ${serve.stdout}; stderr: ${serve.stderr}`)), timeoutMs);
      child.stdout.on('data', (c: Buffer) => {
        serve.stdout += c.toString();
        if (/Other tokens:/.test(serve.stdout)) { clearTimeout(timer); resolve(); }
      });
      child.once('exit', () => reject(new Error(`exited early: ${serve.stderr}`)));
    });
  } catch (error) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  }
  return serve;
}
