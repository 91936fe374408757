import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { isSupportedNode, assertSupportedNode } from '../../src/sqlite/node-sqlite.ts';
import { StorageError } from '../../src/errors.ts';

const root = new URL('../../', import.meta.url);
const bin = fileURLToPath(new URL('bin/boards-storage.js', root));
const index = new URL('src/index.ts', root).href;
// Runs before the program: makes this Node report an older version, as the check reads it.
const pretend = (version: string) => `data:text/javascript,Object.defineProperty(process.versions,'node',{value:'${version}'})`;

async function run(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await promisify(execFile)(process.execPath, args, { env: { ...process.env, BOARDS_STORAGE_CONFIG: '', BOARDS_STORAGE_DATA_DIR: '' } });
    return { code: 0, stderr };
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('the Node.js version floor', () => {
  // Measured with the packed package: 22.12 has no node:sqlite, 22.13-22.15 and 23.10 no StatementSync.columns().
  it('accepts 22.16+, 23.11+ and 24+, refuses what fails', () => {
    for (const v of ['22.16.0', '22.20.1', '23.11.0', '24.0.0', '25.1.0']) assert.ok(isSupportedNode(v), v);
    for (const v of ['20.19.0', '22.12.0', '22.13.0', '22.15.1', '23.10.0']) assert.ok(!isSupportedNode(v), v);
    assert.throws(() => assertSupportedNode('22.13.0'), (e: unknown) => e instanceof StorageError && e.code === 'NOT_SUPPORTED'
      && /needs Node\.js 22\.16 or newer on the 22 line, 23\.11 or newer on the 23 line, or 24 and later/.test(e.message) && /this is Node\.js 22\.13\.0/.test(e.message));
  });

  it('engines.node in package.json says the same', async () => {
    const pkg = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { engines: { node: string } };
    assert.equal(pkg.engines.node, '^22.16.0 || >=23.11.0');
  });

  it('the CLI says which Node it needs, in one line, before anything else', async () => {
    const { code, stderr } = await run(['--import', pretend('22.13.0'), bin, 'ls']);
    assert.equal(code, 1);
    assert.match(stderr, /^boards-storage: NOT_SUPPORTED: boards-storage needs Node\.js 22\.16 or newer on the 22 line.*; this is Node\.js 22\.13\.0/);
    assert.doesNotMatch(stderr, /database_url|columns is not a function|\n {4}at /);
  });

  it('importing the library says it too', async () => {
    const { code, stderr } = await run(['--import', pretend('22.12.0'), '--input-type=module', '-e', `await import(${JSON.stringify(index)})`]);
    assert.notEqual(code, 0);
    assert.match(stderr, /boards-storage needs Node\.js 22\.16 or newer on the 22 line.*; this is Node\.js 22\.12\.0/);
    assert.doesNotMatch(stderr, /No such built-in module/);
  });

  it('no module imports node:sqlite statically (that would fail before the check on 22.12)', async () => {
    const { stdout } = await promisify(execFile)('grep', ['-rlE', `^import \\{[^}]*\\} from 'node:sqlite'`, fileURLToPath(new URL('src', root))]).catch((e: { stdout: string }) => e);
    assert.equal(stdout.trim(), '');
  });
});
