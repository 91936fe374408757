import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after } from 'node:test';

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
  return (await filesUnder(dir)).filter((f) => !f.startsWith('~index.sqlite'));
}
