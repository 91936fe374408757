import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { media } from './fixtures/media.ts';
import { filesUnder, runCli, tempDir } from './helpers.ts';

const cli = (cwd: string, ...args: string[]) => runCli(cwd, args);

describe('boards-storage CLI', () => {
  it('puts, lists, stats, gets, signs and removes on the embedded default', async () => {
    const cwd = await tempDir('cli');
    const png = media.png(5000);
    await writeFile(join(cwd, 'fox.png'), png);
    const put = await cli(cwd, '--json', 'put', 'fox.png', '--type', 'image', '--board', 'b1', '--tenant', 'alice');
    assert.equal(put.code, 0, put.stderr);
    const ref = JSON.parse(put.stdout);
    assert.match(ref.storageKey, /^alice\/image\/b1\/fox_\d{14}_[0-9a-f]{8}\/original\.png$/);
    assert.equal(ref.size, 5000);
    assert.ok((await filesUnder(join(cwd, '.boards-storage', 'files'))).includes(ref.storageKey), 'stored under ./.boards-storage/files');

    const ls = await cli(cwd, '--json', 'ls', '--tenant', 'alice', '--type', 'image');
    assert.deepEqual(JSON.parse(ls.stdout).items.map((i: { storageKey: string }) => i.storageKey), [ref.storageKey]);
    assert.match((await cli(cwd, 'ls', '--tenant', 'alice')).stdout, /KEY\s+SIZE/);
    assert.equal(JSON.parse((await cli(cwd, '--json', 'stat', ref.storageKey)).stdout).sha256, ref.sha256);

    const get = await cli(cwd, 'get', ref.storageKey, '-o', 'copy.png');
    assert.equal(get.code, 0, get.stderr);
    assert.deepEqual(await readFile(join(cwd, 'copy.png')), png);

    const url = await cli(cwd, 'url', ref.storageKey, '--expires', '10m');
    assert.match(url.stdout, /^http:\/\/127\.0\.0\.1:8080\/v1\/signed\/alice\/image\/.*sig=/);

    assert.equal((await cli(cwd, 'rm', ref.storageKey)).code, 0);
    const again = await cli(cwd, 'rm', ref.storageKey);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^boards-storage: NOT_FOUND: artifact .* not found\n$/);
  });

  it('prints one clear line and exits non-zero on bad input', async () => {
    const cwd = await tempDir('cli-bad');
    await writeFile(join(cwd, 'fake.png'), 'this is text, not a PNG');
    const lying = await cli(cwd, 'put', 'fake.png', '--type', 'image');
    assert.equal(lying.code, 1);
    assert.match(lying.stderr, /^boards-storage: CONTENT_MISMATCH: the content was declared as image\/png but/);
    const unsafe = await cli(cwd, 'put', 'fake.png', '--type', 'image', '--board', '../etc');
    assert.match(unsafe.stderr, /SECURITY_VIOLATION: boardId may contain only/);
    const missing = await cli(cwd, 'get', 'alice/image/nope_20260101000000_00000000/original.png');
    assert.equal(missing.code, 1);
    const badConfig = await cli(cwd, '--config', 'nope.yaml', 'ls');
    assert.match(badConfig.stderr, /CONFIG_INVALID: nope\.yaml: cannot read the configuration file \(ENOENT\)/);
    assert.equal((await cli(cwd, 'frobnicate')).code, 2);
    const json = await cli(cwd, '--json', 'stat', '../../x');
    assert.deepEqual(JSON.parse(json.stderr).error.code, 'SECURITY_VIOLATION');
  });

  it('blames --id, not the file name, for a bad --id', async () => {
    const cwd = await tempDir('cli-bad-id');
    await writeFile(join(cwd, 'fox.png'), media.png());
    const bad = await cli(cwd, 'put', 'fox.png', '--type', 'image', '--id', 'bad id');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^boards-storage: SECURITY_VIOLATION: --id may contain only letters, digits/);
    assert.doesNotMatch(bad.stderr, /file name/);
    await writeFile(join(cwd, 'my fox.png'), media.png());
    const named = await cli(cwd, 'put', 'my fox.png', '--type', 'image');
    assert.match(named.stderr, /the file name "my fox\.png" is not a safe artifact id; pass --id/);
    assert.equal((await cli(cwd, 'put', 'my fox.png', '--type', 'image', '--id', 'fox')).code, 0);
  });

  it('checks every provider with doctor (the signed URL needs a running service: see test/server/public-url.test.ts)', async () => {
    const cwd = await tempDir('cli-doctor');
    const doctor = await cli(cwd, '--json', 'doctor');
    const report = JSON.parse(doctor.stdout);
    assert.deepEqual(report.checks.map((c: { step: string }) => c.step), ['health', 'write', 'read', 'presign', 'delete']);
    assert.deepEqual(report.checks.filter((c: { ok: boolean }) => !c.ok).map((c: { step: string }) => c.step).filter((s: string) => s !== 'presign'), []);
  });

  it('cleans up: says what to clean, dry-runs retention, sweeps and reports orphans', async () => {
    const cwd = await tempDir('cli-cleanup');
    await writeFile(join(cwd, 'a.txt'), 'some text');
    assert.equal((await cli(cwd, 'put', 'a.txt', '--type', 'text')).code, 0);
    const nothing = await cli(cwd, 'cleanup');
    assert.equal(nothing.code, 1);
    assert.match(nothing.stderr, /say what to clean: --temp, --older-than DURATION or --orphans/);
    const dry = await cli(cwd, '--json', 'cleanup', '--older-than', '1s', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(JSON.parse(dry.stdout).retention.dryRun, true);
    const all = await cli(cwd, 'cleanup', '--temp', '--orphans');
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /expired: 0 temporary files and 0 uploads removed, 0 deleted artifacts purged from the trash\norphans: 0 unrecorded objects, 0 records without an object/);
  });
});
