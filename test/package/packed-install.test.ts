import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The published package as a user gets it: the repository is built and packed (`npm pack`), the
 * tarball installed into a fresh project (from the npm cache where it can), and both entry points
 * used from there with the compiled dist/ (Node strips no types under node_modules). No optional
 * peer is installed, so a cloud provider must fail with its install command.
 */

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BOARDS_STORAGE_') && !k.startsWith('npm_')));
let work: string;
let project: string;

/** Runs an ES module in the scratch project with the repository's Node; returns its last stdout line as JSON. */
async function inProject(source: string): Promise<Record<string, unknown>> {
  const file = join(project, `check-${Math.random().toString(36).slice(2)}.mjs`);
  await writeFile(file, source);
  const { stdout } = await run(process.execPath, [file], { cwd: project, env: cleanEnv, timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

describe('the packed package in a fresh project', { timeout: 240_000 }, () => {
  after(() => rm(work, { recursive: true, force: true }));
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'boards-pack-'));
    // Build and pack a copy, so the test leaves the repository's own dist/ alone.
    const copy = join(work, 'copy');
    await mkdir(copy);
    for (const entry of ['package.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json', 'src', 'bin', 'console', 'scripts']) await cp(join(repo, entry), join(copy, entry), { recursive: true });
    await symlink(join(repo, 'node_modules'), join(copy, 'node_modules'));
    // What `prepack` does: the library into dist/, the console into dist/console.
    await run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: copy });
    await run(process.execPath, ['scripts/build-console.ts', '--force'], { cwd: copy });
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: copy, env: cleanEnv });
    const tarball = join(work, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);

    project = join(work, 'project');
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: project, env: cleanEnv, timeout: 180_000 });
  });

  it('installs no optional peer and no internals beyond the named entry points', async () => {
    const installed = await readdir(join(project, 'node_modules'));
    for (const peer of ['pg', 'tus-js-client', '@aws-sdk', '@google-cloud', '@supabase']) assert.ok(!installed.includes(peer), `${peer} is not installed`);
    const result = await inProject(`
const reached = async (specifier) => import(specifier).then(() => 'ok', (e) => e.code);
console.log(JSON.stringify({
  local: await reached('boards-storage/providers/local'),
  memory: await reached('boards-storage/providers/memory'),
  internal: await reached('boards-storage/catalog/catalog'),
  wildcard: await reached('boards-storage/providers/registry'),
}));`);
    assert.deepEqual(result, { local: 'ok', memory: 'ok', internal: 'ERR_PACKAGE_PATH_NOT_EXPORTED', wildcard: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
  });

  it('the library stores and reads back an artifact, and a cloud provider asks for its SDK', async () => {
    const result = await inProject(`
import { createDevelopmentStorage, createStorageManager } from 'boards-storage';
const storage = await createDevelopmentStorage({ dataDir: 'state' });
const ref = await storage.storeArtifact({ artifactId: 'note', artifactType: 'text', contentType: 'text/plain', content: new TextEncoder().encode('from a fresh project') });
const back = new TextDecoder().decode(await storage.download(ref.storageKey));
await storage.close();
const s3 = await createStorageManager({ config: { data_dir: 'state', default_provider: 'c', providers: { c: { type: 's3', config: { bucket: 'b', region: 'us-east-1' } } } }, env: {} })
  .then(() => 'created', (e) => e.message);
console.log(JSON.stringify({ back, sha256: ref.sha256, s3 }));`);
    assert.equal(result.back, 'from a fresh project');
    assert.match(result.sha256 as string, /^[0-9a-f]{64}$/);
    assert.match(result.s3 as string, /storage\.providers\.c: the s3 provider needs @aws-sdk\/client-s3, @aws-sdk\/s3-request-presigner, @aws-sdk\/s3-presigned-post, which are not installed .* run: npm i @aws-sdk\/client-s3@\^3\.\d+\.\d+ /);
  });

  it('boards-storage/server serves a stored artifact over HTTP, and the CLI runs', async () => {
    const result = await inProject(`
import { startServer, mintToken } from 'boards-storage/server';
const server = await startServer({ host: '127.0.0.1', port: 0, logger: false, env: { BOARDS_STORAGE_DATA_DIR: 'served' } });
try {
  const token = await mintToken(server.jwt.secret, { subject: 'scratch', tenantId: 'scratch', expiresIn: 60 });
  const auth = { authorization: 'Bearer ' + token };
  const stored = await fetch(server.url + '/v1/artifacts?artifactType=text&artifactId=hello', { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: 'served bytes' });
  const ref = await stored.json();
  const read = await fetch(server.url + '/v1/artifacts/' + ref.storageKey, { headers: auth });
  const page = await fetch(server.url + '/console/');
  const consolePage = page.status + ' ' + /<div id="app">/.test(await page.text());
  console.log(JSON.stringify({ stored: stored.status, read: read.status, body: await read.text(), consolePage }));
} finally {
  await server.close();
}`);
    assert.deepEqual(result, { stored: 201, read: 200, body: 'served bytes', consolePage: '200 true' });
    const { stdout } = await run(process.execPath, [join(project, 'node_modules/boards-storage/bin/boards-storage.js'), '--help'], { cwd: project, env: cleanEnv });
    assert.match(stdout, /serve/);
  });
});
