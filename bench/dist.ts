import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Compile dist/ (what an installed package runs) and return the URL of `path` in it, e.g.
 * `src/manager/create.js`. Measured from dist, a process does not carry the compiler Node loads
 * to strip types from the TypeScript sources (about 30 MB resident).
 */
export function builtDist(path: string): string {
  const build = spawnSync(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('bench: building dist/ failed');
  return new URL(`../dist/${path}`, import.meta.url).href;
}
