import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { OPTIONAL_PACKAGES } from '../../src/config/optional-packages.ts';

/**
 * Runs `body` in a fresh process in which the named packages cannot be resolved, as if they were
 * not installed (a module resolve hook refuses them exactly as Node does a missing package); prints
 * what `body` returns as JSON.
 */
function withoutPackages(absent: string[], body: string): unknown {
  const script = `
import { registerHooks } from 'node:module';
const absent = new Set(${JSON.stringify(absent)});
registerHooks({ resolve(specifier, context, next) {
  if (absent.has(specifier)) throw Object.assign(new Error('Cannot find package ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(specifier, context);
} });
const lib = await import(${JSON.stringify(new URL('../../src/index.ts', import.meta.url).href)});
const result = await (async () => { ${body} })();
console.log(JSON.stringify(result));
`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, BOARDS_STORAGE_DATA_DIR: undefined } as NodeJS.ProcessEnv });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

const failureOf = (config: string) => `
const dir = (await import('node:fs')).mkdtempSync((await import('node:os')).tmpdir() + '/boards-peers-');
try {
  const storage = await lib.createStorageManager({ config: { data_dir: dir, ...${config} }, env: {} });
  await storage.close();
  return { created: true };
} catch (error) {
  return { name: error.name, code: error.code, message: error.message, details: error.details };
} finally {
  (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
}`;

describe('optional peer dependencies', () => {
  it('a missing cloud SDK fails when the manager is created, with the npm command that installs it', () => {
    const result = withoutPackages(['@aws-sdk/s3-presigned-post', '@aws-sdk/s3-request-presigner'], failureOf(`{
      default_provider: 'cloud',
      providers: { cloud: { type: 's3', config: { bucket: 'b', region: 'us-east-1', endpoint: 'http://127.0.0.1:9' } } },
    }`)) as { name: string; code: string; message: string; details: { command: string } };
    assert.equal(result.name, 'ConfigError');
    assert.equal(result.code, 'CONFIG_INVALID');
    const command = 'npm i @aws-sdk/s3-request-presigner@^3.1164.0 @aws-sdk/s3-presigned-post@^3.1164.0';
    assert.equal(result.details.command, command);
    assert.match(result.message, /^storage\.providers\.cloud: the s3 provider needs @aws-sdk\/s3-request-presigner, @aws-sdk\/s3-presigned-post, which are not installed/);
    assert.ok(result.message.endsWith(`run: ${command}`), result.message);
  });

  it('names each provider type\'s own packages: gcs and supabase', () => {
    const gcs = withoutPackages(['@google-cloud/storage'], failureOf(`{ default_provider: 'g', providers: { g: { type: 'gcs', config: { bucket: 'b' } } } }`)) as { message: string };
    assert.match(gcs.message, /storage\.providers\.g: the gcs provider needs @google-cloud\/storage, which is not installed .* run: npm i @google-cloud\/storage@\^7\.22\.0$/);
    const supabase = withoutPackages(['tus-js-client'], failureOf(`{ default_provider: 's', providers: { s: { type: 'supabase', config: { url: 'http://127.0.0.1:9', key: 'k', bucket: 'b' } } } }`)) as { message: string };
    assert.match(supabase.message, /run: npm i tus-js-client@\^4\.3\.1$/);
  });

  it('a PostgreSQL catalog without pg fails at start-up with the command', () => {
    const result = withoutPackages(['pg'], failureOf(`{ database_url: 'postgres://nobody@127.0.0.1:9/none' }`)) as { code: string; message: string };
    assert.equal(result.code, 'CONFIG_INVALID');
    assert.match(result.message, /^database_url: a PostgreSQL catalog needs pg, which is not installed .* run: npm i pg@\^8\.23\.1$/);
  });

  it('local disk needs none of them', () => {
    const all = Object.values(OPTIONAL_PACKAGES).flatMap((p) => Object.keys(p));
    assert.deepEqual(withoutPackages(all, failureOf(`{}`)), { created: true });
  });

  it('the table is the package\'s optional peerDependencies, and npm ci still installs them for the tests', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>; devDependencies: Record<string, string>;
      peerDependencies: Record<string, string>; peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    const table = Object.assign({}, ...Object.values(OPTIONAL_PACKAGES)) as Record<string, string>;
    assert.deepEqual(pkg.peerDependencies, Object.fromEntries(Object.entries(table).sort(([a], [b]) => a.localeCompare(b))));
    for (const name of Object.keys(table)) {
      assert.equal(pkg.peerDependenciesMeta[name]?.optional, true, `${name} is optional`);
      assert.equal(pkg.dependencies[name], undefined, `${name} is not a dependency`);
      assert.ok(pkg.devDependencies[name], `${name} is a devDependency`);
    }
  });
});
