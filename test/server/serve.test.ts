import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { media } from '../fixtures/media.ts';
import { tempDir } from '../helpers.ts';

/** `boards-storage serve` and `token` as a user runs them: a child process on loopback. */

const bin = fileURLToPath(new URL('../../bin/boards-storage.js', import.meta.url));
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BOARDS_STORAGE_')));

describe('boards-storage serve', () => {
  it('starts, prints a token and curl lines that work, agrees with `token`, and stops cleanly on SIGTERM', async () => {
    const cwd = await tempDir('serve');
    const dataDir = join(cwd, 'state');
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--data-dir', dataDir], { cwd, env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no banner within 20 s; stdout: ${stdout}; stderr: ${stderr}`)), 20_000);
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
          if (/Other tokens:/.test(stdout)) { clearTimeout(timer); resolve(); }
        });
        child.once('exit', () => reject(new Error(`exited early: ${stderr}`)));
      });
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)![1]!;
      const token = /export TOKEN=(\S+)/.exec(stdout)![1]!;
      assert.match(stdout, /curl -sS -H "Authorization: Bearer \$TOKEN" -H "Content-Type: image\/png" --data-binary @fox\.png "http:\/\/127\.0\.0\.1:\d+\/v1\/artifacts\?artifactType=image"/);
      assert.match(stdout, /curl -sS -H "Authorization: Bearer \$TOKEN" -o fox\.png "http:\/\/127\.0\.0\.1:\d+\/v1\/artifacts\/<storageKey>"/);

      // The printed curl lines, as fetch.
      const png = media.png(3000);
      const put = await fetch(`${url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'image/png' }, body: png });
      assert.equal(put.status, 201);
      const ref = await put.json() as { storageKey: string };
      assert.match(ref.storageKey, /^default\/image\//);
      const got = await fetch(`${url}/v1/artifacts/${ref.storageKey}`, { headers: { authorization: `Bearer ${token}` } });
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), png);

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
      assert.equal(await exited, 0, stderr);
      assert.match(stdout, /shutting down/);
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
