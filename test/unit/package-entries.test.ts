import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The npm packages a fresh process loads when it imports `entry`, their files, and the built-in modules imported (found by a resolve hook). */
function loadedBy(entry: string): { packages: string[]; files: string[]; builtins: string[] } {
  const script = `
import { registerHooks } from 'node:module';
const packages = new Set();
const files = new Set();
const builtins = new Set();
registerHooks({ resolve(specifier, context, next) {
  const result = next(specifier, context);
  const match = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\/(.*)$/.exec(result.url);
  if (match) { packages.add(match[1]); files.add(match[1] + '/' + match[2]); }
  if (result.url.startsWith('node:')) builtins.add(result.url);
  return result;
} });
await import(${JSON.stringify(entry)});
console.log(JSON.stringify({ packages: [...packages].sort(), files: [...files].sort(), builtins: [...builtins].sort() }));
`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as { packages: string[]; files: string[]; builtins: string[] };
}

/**
 * Built-in modules a store does not need, loaded on first use instead: node:util alone loads
 * worker_threads, parseArgs and the assert diff (about 1.5 MB and 100 ms of CPU at import).
 */
const BUILTINS_ON_FIRST_USE = /^node:(util|worker_threads|child_process|readline|readline\/promises|dns|dns\/promises|timers\/promises|os|http|https)$/;

const SERVICE_AND_BACKENDS = /^(fastify|@fastify\/.*|prom-client|jose|kysely|pg|@aws-sdk\/.*|@google-cloud\/.*|@supabase\/.*|tus-js-client|yaml|file-type)$/;
/** Loaded on first use, not with the package: resilience policies, zip writing, media parsing. */
const ON_FIRST_USE = /^(cockatiel|yazl|sharp|image-size|mp4box|music-metadata|thumbhash)$/;

describe('package entry points', () => {
  it('the library root loads no service, database or cloud SDK package', () => {
    const { packages } = loadedBy(new URL('../../src/index.ts', import.meta.url).href);
    assert.deepEqual(packages.filter((p) => SERVICE_AND_BACKENDS.test(p)), []);
    assert.deepEqual(packages.filter((p) => ON_FIRST_USE.test(p)), []);
    // What it does load is the config schema.
    assert.deepEqual(packages, ['zod']);
  });

  it('the library root imports none of the built-in modules a store does not need', () => {
    const { builtins } = loadedBy(new URL('../../src/index.ts', import.meta.url).href);
    assert.ok(builtins.includes('node:fs/promises'), 'the hook sees built-in imports');
    assert.deepEqual(builtins.filter((b) => BUILTINS_ON_FIRST_USE.test(b)), []);
  });

  it('the library parses its configuration with Zod\'s v3 API, not the heavier v4 (its core and 50 locales)', () => {
    const { files } = loadedBy(new URL('../../src/index.ts', import.meta.url).href);
    const zod = files.filter((f) => f.startsWith('zod/'));
    assert.ok(zod.length > 0, 'zod is loaded');
    assert.deepEqual(zod.filter((f) => !f.startsWith('zod/v3/')), []);
  });

  it('boards-storage/server exports the service: startServer and buildApp', async () => {
    const server = await import('../../src/server/index.ts');
    assert.equal(typeof server.startServer, 'function');
    assert.equal(typeof server.buildApp, 'function');
    assert.equal(server.buildApp, server.createServer);
    const root = await import('../../src/index.ts') as Record<string, unknown>;
    assert.equal(root.startServer, undefined, 'the service is not part of the library root');
  });

  it('package.json names each entry point and no wildcard into the internals', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, unknown>; sideEffects: unknown };
    assert.deepEqual(Object.keys(pkg.exports).sort(), ['.', './package.json', './providers/gcs', './providers/local', './providers/memory', './providers/s3', './providers/supabase', './server']);
    assert.equal(pkg.sideEffects, false);
  });
});
