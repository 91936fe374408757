/** `boards-storage doctor` against the GCS server: the round trip it reports, and a bucket it cannot reach. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers.ts';
import { gcsSkipReason, providerConfig, testBucket } from './gcs-test-server.ts';

const bin = fileURLToPath(new URL('../../bin/boards-storage.js', import.meta.url));

async function doctor(cwd: string, config: object): Promise<{ code: number; report: { ok: boolean; checks: Array<{ provider: string; step: string; ok: boolean; detail?: string }> } }> {
  // JSON is YAML: the inline service-account key needs no quoting rules.
  await writeFile(join(cwd, 'boards-storage.yaml'), JSON.stringify({ storage: { default_provider: 'cloud', ...config } }));
  const run = promisify(execFile)(process.execPath, [bin, '--json', '--config', 'boards-storage.yaml', 'doctor'], { cwd, env: { ...process.env, BOARDS_STORAGE_CONFIG: '', BOARDS_STORAGE_DATA_DIR: '' } });
  const { stdout, stderr, code } = await run.then((r) => ({ ...r, code: 0 }), (e: { stdout: string; stderr: string; code: number }) => e);
  assert.ok(stdout, stderr);
  return { code, report: JSON.parse(stdout) };
}

describe('doctor on GCS', { skip: gcsSkipReason ?? false }, () => {
  it('makes the round trip on the bucket', async () => {
    const cwd = await tempDir('gcs-doctor');
    const { code, report } = await doctor(cwd, { providers: { cloud: { type: 'gcs', config: providerConfig(testBucket('doctor')) } } });
    assert.equal(code, 0, JSON.stringify(report));
    assert.deepEqual(report.checks.map((c) => [c.provider, c.step, c.ok]), [['cloud', 'health', true], ['cloud', 'write', true], ['cloud', 'read', true], ['cloud', 'presign', true], ['cloud', 'delete', true]]);
  });

  it('fails and says why when the server cannot be reached', async () => {
    const cwd = await tempDir('gcs-doctor-down');
    const { code, report } = await doctor(cwd, { providers: { cloud: { type: 'gcs', config: { ...providerConfig(testBucket('doctor')), api_endpoint: 'http://127.0.0.1:9' }, retry: { max_attempts: 1 } } } });
    assert.notEqual(code, 0);
    assert.equal(report.ok, false);
    const health = report.checks.find((c) => c.step === 'health')!;
    assert.equal(health.ok, false);
    assert.match(health.detail ?? '', /PROVIDER_UNAVAILABLE/);
  });
});
