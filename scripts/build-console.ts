// Builds the web console (console/ -> dist/console) with Vite when the build is missing or older
// than any of its sources; `npm start` runs it first, so `npm ci && npm start` serves /console.
// `--force` builds regardless.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const sources = join(root, 'console');
const built = join(root, 'dist', 'console', 'index.html');

function newestSource(): number {
  let newest = statSync(join(root, 'package-lock.json'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  for (const entry of readdirSync(sources, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

export async function buildConsole(options: { force?: boolean } = {}): Promise<'built' | 'fresh'> {
  if (!options.force && existsSync(built) && statSync(built).mtimeMs >= newestSource()) return 'fresh';
  // Loaded only when a build is needed: Vite is a devDependency.
  const { build } = await import('vite');
  await build({ configFile: join(sources, 'vite.config.ts'), logLevel: 'warn' });
  return 'built';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outcome = await buildConsole({ force: process.argv.includes('--force') });
  if (outcome === 'built') process.stdout.write('console built into dist/console\n');
}
