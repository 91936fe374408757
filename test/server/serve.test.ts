import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { media } from '../fixtures/media.ts';
import { startServe, tempDir } from '../helpers.ts';

/** `boards-storage serve` and `token` as a user runs them: a child process on loopback. */

const bin = fileURLToPath(new URL('../../bin/boards-storage.js', import.meta.url));
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BOARDS_STORAGE_')));

/** One line of the banner, run by bash with $TOKEN exported, as a user pastes it. */
async function shell(line: string, cwd: string, token: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('bash', ['-c', line], { cwd, env: { ...cleanEnv, TOKEN: token } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('boards-storage serve', () => {
  it('starts, prints a token and curl lines that work, agrees with `token`, and stops cleanly on SIGTERM', async () => {
    const cwd = await tempDir('serve');
    const dataDir = join(cwd, 'state');
    const serve = await startServe(cwd, ['serve', '--port', '0', '--data-dir', dataDir], cleanEnv, 20_000);
    const { child, exited } = serve;
    try {
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(serve.stdout)![1]!;
      const token = /export TOKEN=(\S+)/.exec(serve.stdout)![1]!;
      // The printed curl lines, pasted into a shell as they are (curl and bash, as a user has them).
      const curlLines = serve.stdout.split('\n').filter((l) => l.startsWith('    curl ')).map((l) => l.trim());
      assert.equal(curlLines.length, 3, serve.stdout);
      const [uploadPng, uploadText, download] = curlLines as [string, string, string];
      assert.match(download, /--fail .*-o downloaded-artifact /);
      const png = media.png(3000);
      await writeFile(join(cwd, 'fox.png'), png);
      const uploaded = await shell(uploadPng, cwd, token);
      assert.equal(uploaded.code, 0, uploaded.stderr);
      const ref = JSON.parse(uploaded.stdout) as { storageKey: string };
      assert.match(ref.storageKey, /^default\/image\//);
      // Pasted with the placeholder left in: curl fails and nothing is written, least of all over fox.png.
      const placeholder = await shell(download, cwd, token);
      assert.notEqual(placeholder.code, 0);
      assert.deepEqual(await readFile(join(cwd, 'fox.png')), png);
      assert.equal(await stat(join(cwd, 'downloaded-artifact')).catch(() => undefined), undefined);
      const downloaded = await shell(download.replace('<storageKey>', ref.storageKey), cwd, token);
      assert.equal(downloaded.code, 0, downloaded.stderr);
      assert.deepEqual(await readFile(join(cwd, 'downloaded-artifact')), png);
      assert.deepEqual(await readFile(join(cwd, 'fox.png')), png);
      // Without a PNG: the text line needs no file.
      const text = await shell(uploadText, await tempDir('serve-nofile'), token);
      assert.equal(text.code, 0, text.stderr);
      assert.match((JSON.parse(text.stdout) as { storageKey: string }).storageKey, /^default\/text\//);

      // Signed URLs point at this server.
      const urls = await (await fetch(`${url}/v1/urls`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ keys: [ref.storageKey] }) })).json() as { urls: { url: string }[] };
      assert.ok(urls.urls[0]!.url.startsWith(`${url}/v1/signed/`));
      assert.equal((await fetch(urls.urls[0]!.url)).status, 200);

      // `token` with the same --data-dir signs with the same secret.
      const minted = await promisify(execFile)(process.execPath, [bin, '--data-dir', dataDir, 'token', '--tenant', 'bob', '--sub', 'script', '--expires', '10m'], { cwd, env: cleanEnv });
      const bobs = await fetch(`${url}/v1/artifacts`, { headers: { authorization: `Bearer ${minted.stdout.trim()}` } });
      assert.equal(bobs.status, 200);
      assert.deepEqual((await bobs.json() as { items: unknown[] }).items, []);

      // A request in flight when SIGTERM arrives is finished; then the process exits 0.
      const { port } = new URL(url);
      const inFlight = new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/artifacts?artifactType=image', headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png', 'content-length': String(png.length) } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
        req.on('error', reject);
        req.write(png.subarray(0, 1000));
        setTimeout(() => {
          child.kill('SIGTERM');
          setTimeout(() => req.end(png.subarray(1000)), 300);
        }, 200);
      });
      assert.equal(await inFlight, 201);
      assert.equal(await exited, 0, serve.stderr);
      assert.match(serve.stdout, /shutting down/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('fails to start with one clear line on a bad configuration', async () => {
    const cwd = await tempDir('serve-bad');
    const result = await promisify(execFile)(process.execPath, [bin, '--config', 'missing.yaml', 'serve'], { cwd, env: cleanEnv }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((result as { code: number }).code, 1);
    assert.match((result as { stderr: string }).stderr, /^boards-storage: CONFIG_INVALID: missing\.yaml: cannot read/);
  });
});
