import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig, createStorageManager, ConfigError, parseSize } from '../../src/index.ts';
import { tempDir } from '../helpers.ts';

const configError = (fragment: string | RegExp) => (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_INVALID' && (typeof fragment === 'string' ? e.message.includes(fragment) : fragment.test(e.message));

async function yamlFile(text: string): Promise<string> {
  const path = join(await tempDir('config'), 'storage.yaml');
  await writeFile(path, text);
  return path;
}

describe('configuration', () => {
  it('reads YAML with ${VAR} and ${VAR:-default} interpolation', async () => {
    const path = await yamlFile(`
storage:
  default_provider: \${DEFAULT:-fast}
  max_file_size: 250MB
  allowed_content_types: ["image/*", "text/plain"]
  providers:
    fast:
      type: local
      config:
        base_path: \${BASE}/files
        public_url_base: https://\${CDN_HOST:-cdn.example.com}
    spare: { type: memory }
  routing_rules:
    - condition: { content_type: "video/*", size_gt: 1GB }
      provider: spare
    - provider: fast
`);
    const config = loadConfig(path, { env: { BASE: '/srv/boards' } });
    assert.equal(config.defaultProvider, 'fast');
    assert.equal(config.maxFileSize, 250 * 1024 * 1024);
    assert.deepEqual(config.allowedContentTypes, ['image/*', 'text/plain']);
    assert.deepEqual(config.providers.fast, { type: 'local', config: { base_path: '/srv/boards/files', public_url_base: 'https://cdn.example.com' }, mirrors: [], spool: false, verify_reads: true });
    assert.deepEqual(config.routingRules, [{ condition: { contentType: ['video/*'], sizeGt: 1024 ** 3 }, provider: 'spare' }, { provider: 'fast' }]);
  });

  it('names the variable and the path when a variable is missing', async () => {
    const path = await yamlFile('storage:\n  providers:\n    s3:\n      type: memory\n      config:\n        public_url_base: ${MISSING_HOST}\n');
    assert.throws(() => loadConfig(path, { env: {} }), configError(/storage\.providers\.s3\.config\.public_url_base: environment variable MISSING_HOST is not set/));
  });

  it('keeps $${...} literal', () => {
    const config = loadConfig({ providers: { m: { type: 'memory', config: { note: '$${NOT_A_VAR}' } } }, default_provider: 'm' }, { env: {} });
    assert.equal(config.providers.m!.config.note, '$${NOT_A_VAR}', 'objects are not interpolated, only YAML files');
  });

  it('refuses malformed YAML with the line', async () => {
    const path = await yamlFile('storage:\n  providers:\n    local: {type: local\n  max_file_size: 1\n');
    assert.throws(() => loadConfig(path, { env: {} }), configError(/not valid YAML at line \d/));
  });

  it('refuses a file without a storage section, and a missing file', async () => {
    const noSection = await yamlFile('providers: {}\n');
    assert.throws(() => loadConfig(noSection, { env: {} }), configError('top-level "storage:"'));
    assert.throws(() => loadConfig('/nonexistent/boards.yaml', { env: {} }), configError('cannot read'));
  });

  it('names the offending path for each kind of mistake', () => {
    const base = { providers: { local: { type: 'local', config: { base_path: '/tmp/x' } } } };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...base, default_provider: 'nowhere' }, /storage\.default_provider: "nowhere" is not one of the configured providers/],
      [{ ...base, routing_rules: [{ provider: 'local' }, { condition: { artifact_type: 'image' }, provider: 'ghost' }] }, /storage\.routing_rules\[1\]\.provider: "ghost"/],
      [{ ...base, max_file_size: 'lots' }, /storage\.max_file_size: "lots" is not a size/],
      [{ ...base, routing_rules: [{ condition: { size_gt: '5 parsecs' }, provider: 'local' }] }, /routing_rules\[0\]\.condition\.size_gt/],
      [{ ...base, routing_rules: [{ condition: { colour: 'red' }, provider: 'local' }] }, /storage\.routing_rules\.0\.condition: Unrecognized key/],
      [{ ...base, providers: { local: { kind: 'local' } } }, /storage\.providers\.local\.type/],
      [{ ...base, allowed_content_types: ['images'] }, /storage\.allowed_content_types: "images"/],
      [{ ...base, unknown_key: 1 }, /storage: Unrecognized key/],
      [{ ...base, signing_secret: 'short' }, /storage\.signing_secret/],
    ];
    for (const [config, pattern] of cases) assert.throws(() => loadConfig(config as never, { env: {} }), configError(pattern), pattern.source);
  });

  it('fails at creation for unknown provider types and bad provider config', async () => {
    const dir = await tempDir('bad-provider');
    await assert.rejects(createStorageManager({ config: { data_dir: dir, default_provider: 'x', providers: { x: { type: 'nosuch' } } }, env: {} }), configError(/storage\.providers\.x\.type: unknown provider type "nosuch" \(known: local, memory/));
    await assert.rejects(createStorageManager({ config: { data_dir: dir, default_provider: 'x', providers: { x: { type: 'local', config: { base_path: dir, bogus: true } } } }, env: {} }), configError(/storage\.providers\.x\.config: Unrecognized key.*bogus/));
    await assert.rejects(createStorageManager({ config: { data_dir: dir, default_provider: 'x', providers: { x: { type: 'local', config: {} } } }, env: {} }), configError('storage.providers.x.config.base_path'));
  });

  it('fails at creation when the base path cannot be a writable directory', async () => {
    const dir = await tempDir('unwritable');
    const file = join(dir, 'a-file');
    await writeFile(file, 'x');
    await assert.rejects(createStorageManager({ config: { data_dir: dir, signing_secret: 'x'.repeat(32), providers: { local: { type: 'local', config: { base_path: join(file, 'files') } } } }, env: {} }), configError(/storage\.providers\.local\.config\.base_path: cannot use .* \(ENOTDIR\); it must be a writable directory/));
    await assert.rejects(createStorageManager({ config: { data_dir: dir, signing_secret: 'x'.repeat(32), providers: { local: { type: 'local', config: { base_path: file } } } }, env: {} }), configError(/base_path: cannot use .* \(EEXIST\)/));
  });

  it('maps BOARDS_STORAGE_* variables over the embedded default', () => {
    const config = loadConfig(undefined, { env: { BOARDS_STORAGE_LOCAL_BASE_PATH: '/data/files', BOARDS_STORAGE_LOCAL_PUBLIC_URL_BASE: 'https://cdn.test', BOARDS_STORAGE_MAX_FILE_SIZE: '10MB', BOARDS_STORAGE_DEFAULT_PROVIDER: 'local', BOARDS_STORAGE_ALLOWED_CONTENT_TYPES: 'image/png, text/plain' } });
    assert.deepEqual(config.providers, { local: { type: 'local', config: { base_path: '/data/files', public_url_base: 'https://cdn.test' }, mirrors: [], spool: false, verify_reads: true } });
    assert.equal(config.maxFileSize, 10 * 1024 * 1024);
    assert.deepEqual(config.allowedContentTypes, ['image/png', 'text/plain']);
    assert.equal(loadConfig(undefined, { env: { BOARDS_STORAGE_MAX_FILE_SIZE: '1234' } }).maxFileSize, 1234);
    const defaults = loadConfig(undefined, { env: {} });
    assert.deepEqual(defaults.providers, { local: { type: 'local', config: { base_path: join('.boards-storage', 'files') }, mirrors: [], spool: false, verify_reads: true } });
    assert.equal(defaults.maxFileSize, 5 * 1024 ** 3);
    assert.equal(loadConfig(undefined, { env: { BOARDS_STORAGE_DATA_DIR: '/var/lib/boards' } }).providers.local!.config.base_path, '/var/lib/boards/files');
    assert.throws(() => loadConfig(undefined, { env: { BOARDS_STORAGE_DEFAULT_PROVIDER: 's3' } }), configError('default_provider'));
  });

  it('reads the file named by BOARDS_STORAGE_CONFIG when no source is given', async () => {
    const path = await yamlFile('storage:\n  default_provider: m\n  providers:\n    m: { type: memory }\n');
    assert.equal(loadConfig(undefined, { env: { BOARDS_STORAGE_CONFIG: path } }).defaultProvider, 'm');
  });

  it('parses sizes with units', () => {
    assert.equal(parseSize('500KB', 'x'), 512_000);
    assert.equal(parseSize('1.5 GB', 'x'), 1.5 * 1024 ** 3);
    assert.equal(parseSize(42, 'x'), 42);
    assert.throws(() => parseSize(-1, 'x'), ConfigError);
    assert.throws(() => parseSize('1 XB', 'x'), ConfigError);
  });
});
