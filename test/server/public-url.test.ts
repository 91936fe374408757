import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createStorageManager } from '../../src/manager/create.ts';
import type { StorageConfigInput } from '../../src/config/schema.ts';
import { freePort, startServer } from '../../src/server/start.ts';
import { media } from '../fixtures/media.ts';
import { cliBin, runCli, tempDir } from '../helpers.ts';
import { eventually } from './server-harness.ts';

/**
 * Signed URLs point where the service is: every signer (the library, the CLI, the service) uses
 * `server.public_url` / BOARDS_STORAGE_PUBLIC_URL, or the configured host and port, and doctor
 * fetches the URL it signed.
 */

const cli = (cwd: string, env: Record<string, string>, ...args: string[]) => runCli(cwd, args, env);

/** Local disk under `dataDir`, as the embedded default has it. */
function localConfig(dataDir: string, extra: Partial<StorageConfigInput> = {}): StorageConfigInput {
  return { data_dir: dataDir, providers: { local: { type: 'local', config: { base_path: join(dataDir, 'files') } } }, ...extra };
}

describe('signed URLs of the library', () => {
  it('use server.public_url and BOARDS_STORAGE_PUBLIC_URL for downloads and uploads', async () => {
    const dataDir = await tempDir('public-url');
    const fromConfig = await createStorageManager({ config: localConfig(dataDir, { server: { public_url: 'https://files.example.com/boards/' } }), env: {} });
    try {
      const ref = await fromConfig.storeArtifact({ artifactId: 'a', artifactType: 'image', contentType: 'image/png', content: media.png(500) });
      assert.match(await fromConfig.getDownloadUrl(ref.storageKey), /^https:\/\/files\.example\.com\/boards\/v1\/signed\/default\/image\//);
      const upload = await fromConfig.getUploadUrl({ artifactId: 'b', artifactType: 'image', contentType: 'image/png', size: 10 });
      assert.match(upload.url, /^https:\/\/files\.example\.com\/boards\/v1\/signed\/default\/image\//);
    } finally {
      await fromConfig.close();
    }
    const fromEnv = await createStorageManager({ config: localConfig(dataDir), env: { BOARDS_STORAGE_PUBLIC_URL: 'https://cdn.example.net' } });
    try {
      const upload = await fromEnv.getUploadUrl({ artifactId: 'c', artifactType: 'image', contentType: 'image/png', size: 10 });
      assert.match(upload.url, /^https:\/\/cdn\.example\.net\/v1\/signed\//);
    } finally {
      await fromEnv.close();
    }
  });

  it('signed by the library for a service on another port, work against that service', async () => {
    const dataDir = await tempDir('public-url-port');
    const port = await freePort('127.0.0.1');
    const env = { BOARDS_STORAGE_DATA_DIR: dataDir, BOARDS_STORAGE_PORT: String(port) };
    const service = await startServer({ env, logger: false });
    try {
      const library = await createStorageManager({ config: localConfig(dataDir), env });
      try {
        const png = media.png(2000);
        const ref = await library.storeArtifact({ artifactId: 'p', artifactType: 'image', contentType: 'image/png', content: png });
        const url = await library.getDownloadUrl(ref.storageKey);
        assert.ok(url.startsWith(`http://127.0.0.1:${port}/`), url);
        const res = await fetch(url);
        assert.equal(res.status, 200);
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), Buffer.from(png));
      } finally {
        await library.close();
      }
    } finally {
      await service.close();
    }
  });
});

describe('the CLI', () => {
  it('url KEY prints the configured public URL', async () => {
    const cwd = await tempDir('cli-public-url');
    await writeFile(join(cwd, 'fox.png'), media.png(800));
    const env = { BOARDS_STORAGE_PUBLIC_URL: 'https://boards.example.org' };
    const put = await cli(cwd, env, '--json', 'put', 'fox.png', '--type', 'image');
    assert.equal(put.code, 0, put.stderr);
    const url = await cli(cwd, env, 'url', JSON.parse(put.stdout).storageKey);
    assert.match(url.stdout, /^https:\/\/boards\.example\.org\/v1\/signed\/default\/image\/.*sig=/);
  });

  it('doctor fetches the URL it signed: FAILED with a hint when nothing serves it, ok when the service runs', async () => {
    const cwd = await tempDir('cli-doctor-url');
    const port = await freePort('127.0.0.1');
    const env = { BOARDS_STORAGE_PORT: String(port) };
    const dead = await cli(cwd, env, '--json', 'doctor');
    assert.equal(dead.code, 1);
    const deadReport = JSON.parse(dead.stdout) as { ok: boolean; checks: { step: string; ok: boolean; detail?: string }[] };
    const presign = deadReport.checks.find((c) => c.step === 'presign')!;
    assert.equal(presign.ok, false);
    assert.match(presign.detail ?? '', new RegExp(`does not answer at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\).*boards-storage serve`));

    const child = spawn(process.execPath, [cliBin, 'serve'], { cwd, env: { ...process.env, BOARDS_STORAGE_CONFIG: '', BOARDS_STORAGE_DATA_DIR: '', ...env }, stdio: 'ignore' });
    try {
      assert.ok(await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, 20_000), 'serve did not start');
      const live = await cli(cwd, env, '--json', 'doctor');
      assert.equal(live.code, 0, live.stdout + live.stderr);
      const report = JSON.parse(live.stdout) as { ok: boolean; checks: { step: string; ok: boolean }[] };
      assert.deepEqual(report.checks.map((c) => [c.step, c.ok]), [['health', true], ['write', true], ['read', true], ['presign', true], ['delete', true]]);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
});
