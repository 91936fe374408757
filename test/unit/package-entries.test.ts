import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The npm packages a fresh process loads when it imports `entry` (found by a resolve hook). */
function packagesLoadedBy(entry: string): string[] {
  const script = `
import { registerHooks } from 'node:module';
const loaded = new Set();
registerHooks({ resolve(specifier, context, next) {
  const result = next(specifier, context);
  const match = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(result.url);
  if (match) loaded.add(match[1]);
  return result;
} });
await import(${JSON.stringify(entry)});
console.log(JSON.stringify([...loaded].sort()));
`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
}

const SERVICE_AND_BACKENDS = /^(fastify|@fastify\/.*|prom-client|jose|kysely|pg|@aws-sdk\/.*|@google-cloud\/.*|@supabase\/.*|tus-js-client|yaml|file-type)$/;

describe('package entry points', () => {
  it('the library root loads no service, database or cloud SDK package', () => {
    const loaded = packagesLoadedBy(new URL('../../src/index.ts', import.meta.url).href);
    assert.deepEqual(loaded.filter((p) => SERVICE_AND_BACKENDS.test(p)), []);
    // What it does load is the config schema and the resilience policies.
    assert.ok(loaded.includes('zod'), `zod among ${loaded.join(', ')}`);
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
