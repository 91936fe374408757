import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createStorageManager } from '../../src/index.ts';
import type { ArtifactReference } from '../../src/index.ts';
import { toByteStream } from '../../src/content/source.ts';
import { runCli, tempDir } from '../helpers.ts';

/**
 * `boards-storage verify` on real disks (a primary and its mirror, both local providers) holding a
 * mix of intact, corrupt, missing, cut-short and unrecorded objects: its JSON report, its exit code,
 * and `--repair` restoring from the mirror.
 */
const cli = (cwd: string, ...args: string[]) => runCli(cwd, args);

interface Report {
  counts: Record<string, number>;
  problems: { storageKey: string; status: string; provider: string; repaired?: boolean }[];
}

describe('boards-storage verify', () => {
  it('reports ok, corrupt, missing, size_mismatch and orphan copies, repairs from the mirror, and exits 0 only when all are good', async () => {
    const dir = await tempDir('verify-cli');
    const configPath = join(dir, 'storage.yaml');
    await writeFile(configPath, [
      'storage:',
      `  data_dir: ${JSON.stringify(join(dir, 'state'))}`,
      '  default_provider: primary',
      '  providers:',
      '    primary:',
      '      type: local',
      `      config: { base_path: ${JSON.stringify(join(dir, 'primary'))} }`,
      '      mirrors: [mirror]',
      '    mirror:',
      '      type: local',
      `      config: { base_path: ${JSON.stringify(join(dir, 'mirror'))} }`,
      '',
    ].join('\n'));
    const storage = await createStorageManager(configPath, { env: {} });
    const refs: Record<string, ArtifactReference> = {};
    const contents: Record<string, Buffer> = {};
    try {
      for (const name of ['intact', 'flipped', 'deleted', 'cut', 'lost']) {
        contents[name] = randomBytes(100_000);
        refs[name] = await storage.storeArtifact({ artifactId: name, artifactType: 'model', contentType: 'application/octet-stream', content: contents[name]!, tenantId: 'alice', boardId: 'b1' });
      }
      await storage.flushMirrors();
      // An object no record knows, on the primary.
      await storage.provider('primary').upload('alice/model/b1/stray_20260101000000_abcdef12/original.bin', toByteStream(Buffer.from('stray')), { contentType: 'application/octet-stream', metadata: {} });
    } finally {
      await storage.close();
    }
    const onDisk = (provider: string, name: string) => join(dir, provider, refs[name]!.storageKey);
    const flip = async (path: string) => {
      const bytes = await readFile(path);
      bytes[5000] = bytes[5000]! ^ 0x01;
      await writeFile(path, bytes);
    };
    await flip(onDisk('primary', 'flipped'));
    await rm(onDisk('primary', 'deleted'));
    await truncate(onDisk('primary', 'cut'), 99_999);
    await flip(onDisk('primary', 'lost'));
    await flip(onDisk('mirror', 'lost'));

    const first = await cli(dir, '--config', configPath, '--json', 'verify');
    assert.equal(first.code, 1, first.stderr);
    const report = JSON.parse(first.stdout) as Report;
    assert.deepEqual(Object.keys(report).sort(), ['counts', 'problems']);
    assert.deepEqual(report.counts, { ok: 5, corrupt: 3, missing: 1, size_mismatch: 1, orphan: 1, repaired: 0 });
    const problems = report.problems.map((p) => `${p.status} ${p.provider} ${p.storageKey}`).sort();
    assert.deepEqual(problems, [
      `corrupt mirror ${refs.lost!.storageKey}`,
      `corrupt primary ${refs.flipped!.storageKey}`,
      `corrupt primary ${refs.lost!.storageKey}`,
      `missing primary ${refs.deleted!.storageKey}`,
      'orphan primary alice/model/b1/stray_20260101000000_abcdef12/original.bin',
      `size_mismatch primary ${refs.cut!.storageKey}`,
    ]);

    // Filters: one provider's copies; another tenant has nothing.
    const mirrorOnly = JSON.parse((await cli(dir, '--config', configPath, '--json', 'verify', '--provider', 'mirror')).stdout) as Report;
    assert.deepEqual(mirrorOnly.counts, { ok: 4, corrupt: 1, missing: 0, size_mismatch: 0, orphan: 0, repaired: 0 });
    const other = await cli(dir, '--config', configPath, '--json', 'verify', '--tenant', 'bob');
    assert.equal(other.code, 0, other.stderr);
    assert.deepEqual((JSON.parse(other.stdout) as Report).counts, { ok: 0, corrupt: 0, missing: 0, size_mismatch: 0, orphan: 0, repaired: 0 });
    assert.equal((await cli(dir, '--config', configPath, 'verify', '--sample', '2')).code, 1);

    // --repair: what has a good copy on the mirror is restored and checked again; `lost` has none.
    const repair = await cli(dir, '--config', configPath, '--json', 'verify', '--repair');
    assert.equal(repair.code, 1, 'still not all good: one artifact has no good copy, and an orphan');
    const repaired = JSON.parse(repair.stdout) as Report;
    assert.equal(repaired.counts.repaired, 3);
    assert.deepEqual(repaired.problems.filter((p) => p.repaired).map((p) => p.storageKey).sort(), [refs.flipped!.storageKey, refs.deleted!.storageKey, refs.cut!.storageKey].sort());
    for (const name of ['flipped', 'deleted', 'cut']) assert.ok((await readFile(onDisk('primary', name))).equals(contents[name]!), `${name} is whole again on disk`);

    // Without the unrepairable artifact and the orphan, everything is ok: exit code 0.
    assert.equal((await cli(dir, '--config', configPath, 'rm', refs.lost!.storageKey)).code, 0);
    // (cleanup --orphans used to count mirror copies as orphans and delete them with --fix.)
    const cleaned = await cli(dir, '--config', configPath, '--json', 'cleanup', '--orphans', '--fix');
    assert.equal(cleaned.code, 0, cleaned.stderr);
    assert.deepEqual(JSON.parse(cleaned.stdout).orphans.unrecordedObjects.map((o: { key: string }) => o.key), ['alice/model/b1/stray_20260101000000_abcdef12/original.bin']);
    const last = await cli(dir, '--config', configPath, '--json', 'verify');
    assert.equal(last.code, 0, last.stdout);
    assert.deepEqual((JSON.parse(last.stdout) as Report).counts, { ok: 8, corrupt: 0, missing: 0, size_mismatch: 0, orphan: 0, repaired: 0 });
    const human = await cli(dir, '--config', configPath, 'verify');
    assert.match(human.stdout, /verify: 4 artifacts checked: 8 ok, 0 corrupt/);
  });

  it('get of a corrupt artifact fails and writes no file', async () => {
    const dir = await tempDir('verify-cli-get');
    const storage = await createStorageManager({ config: { data_dir: join(dir, '.boards-storage'), providers: { local: { type: 'local', config: { base_path: join(dir, '.boards-storage', 'files') } } } }, env: {} });
    const content = randomBytes(2 * 1024 * 1024);
    const ref = await storage.storeArtifact({ artifactId: 'g', artifactType: 'model', contentType: 'application/octet-stream', content });
    await storage.close();
    const path = join(dir, '.boards-storage', 'files', ref.storageKey);
    const bytes = await readFile(path);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    await writeFile(path, bytes);
    const got = await cli(dir, 'get', ref.storageKey, '-o', 'out.bin');
    assert.equal(got.code, 1);
    assert.match(got.stderr, /CORRUPTION/);
    await assert.rejects(access(join(dir, 'out.bin')), 'no file appears');
    const piped = await cli(dir, 'get', ref.storageKey);
    assert.equal(piped.code, 1);
    assert.ok(Buffer.byteLength(piped.stdout, 'latin1') < content.length, 'stdout never gets every byte');
  });
});
