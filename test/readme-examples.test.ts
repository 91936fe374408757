import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { media } from './fixtures/media.ts';
import { tempDir } from './helpers.ts';

/**
 * Every ```ts block of the README runs as written, as a user would paste it into a module: in a
 * fresh directory holding the files a user would have (fox.png, clip.mp4, storage.yaml), with
 * `boards-storage` imports pointed at the sources, and for the generation example a model API on
 * loopback. Nothing is added to a block.
 */

const root = new URL('../', import.meta.url);
const readme = await readFile(new URL('README.md', root), 'utf8');
const pkg = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { exports: Record<string, { default: string } | string> };

interface Block { line: number; code: string }
const blocks: Block[] = [];
for (const match of readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
  blocks.push({ line: readme.slice(0, match.index).split('\n').length, code: match[1]! });
}

/** `boards-storage` and its subpaths, as package.json exports them, resolved to the TypeScript sources. */
function sourceOf(specifier: string): string {
  const subpath = specifier === 'boards-storage' ? '.' : `./${specifier.slice('boards-storage/'.length)}`;
  const entry = pkg.exports[subpath];
  let target = typeof entry === 'object' ? entry.default : undefined;
  if (!target) {
    const wildcard = Object.keys(pkg.exports).find((k) => k.endsWith('/*') && subpath.startsWith(k.slice(0, -1)));
    if (!wildcard) throw new Error(`README imports ${specifier}, which package.json does not export`);
    target = (pkg.exports[wildcard] as { default: string }).default.replace('*', subpath.slice(wildcard.length - 1));
  }
  return pathToFileURL(fileURLToPath(new URL(target.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'), root))).href;
}

// The model provider of the generation example: takes the form, answers with a temporary result URL.
const result = media.png(2048);
const modelApi = createServer((req, res) => {
  if (req.method === 'POST') {
    req.resume();
    req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ url: `http://127.0.0.1:${port}/results/out.png` })); });
    return;
  }
  res.setHeader('content-type', 'image/png');
  res.end(result);
});
await new Promise<void>((resolve) => modelApi.listen(0, '127.0.0.1', resolve));
after(() => new Promise<void>((resolve) => modelApi.close(() => resolve())));
const port = (modelApi.address() as { port: number }).port;

const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BOARDS_STORAGE_'))), MODEL_API_URL: `http://127.0.0.1:${port}/predictions` };

describe('README examples', () => {
  it('has its library, plugin, service and generation examples', () => {
    assert.ok(blocks.length >= 4, `found ${blocks.length} ts blocks`);
  });

  it('type-checks every block against the sources, with the project\'s compiler options', async () => {
    const dir = await tempDir('readme-types');
    const paths = Object.fromEntries(Object.keys(pkg.exports).filter((k) => !k.includes('*') && typeof pkg.exports[k] === 'object').map((k) => {
      const specifier = k === '.' ? 'boards-storage' : `boards-storage/${k.slice(2)}`;
      return [specifier, [fileURLToPath(sourceOf(specifier))]];
    }));
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
      extends: fileURLToPath(new URL('tsconfig.json', root)),
      compilerOptions: { noEmit: true, rootDir: '/', types: [fileURLToPath(new URL('node_modules/@types/node', root))], paths },
      include: ['*.mts'],
    }));
    for (const [i, block] of blocks.entries()) await writeFile(join(dir, `readme-line-${block.line}-${i}.mts`), block.code);
    const tsc = fileURLToPath(new URL('node_modules/typescript/bin/tsc', root));
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { timeout: 240_000 })
      .then(() => '', (e: { stdout: string }) => e.stdout);
    assert.equal(result, '', 'README blocks (file names carry the README line)');
  });

  for (const block of blocks) {
    it(`the block at README.md:${block.line} runs`, async () => {
      const cwd = await tempDir('readme');
      await writeFile(join(cwd, 'fox.png'), media.png(3000));
      await writeFile(join(cwd, 'clip.mp4'), media.mp4(4096));
      await writeFile(join(cwd, 'storage.yaml'), `storage:\n  data_dir: data\n  generation:\n    allow_hosts: ["127.0.0.1:${port}"]\n`);
      const code = block.code.replace(/from '(boards-storage(?:\/[^']+)?)'/g, (_m, specifier: string) => `from '${sourceOf(specifier)}'`);
      await writeFile(join(cwd, 'example.mts'), code);
      const run = await promisify(execFile)(process.execPath, ['example.mts'], { cwd, env, timeout: 120_000 })
        .then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }));
      assert.equal(run.code, 0, `README.md:${block.line}\n${run.stderr}`);
    });
  }
});
