import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { media } from '../fixtures/media.ts';
import { runCli, tempDir } from '../helpers.ts';
import { testDatabases } from '../catalog/databases.ts';

/** `put --input`, `ls --input/--id`, `stat` with lineage and `audit`, on the embedded default and on PostgreSQL. */
for (const database of testDatabases) {
  describe(`lineage and audit in the CLI on ${database.name}`, () => {
    it('records inputs with put --input, lists outputs, shows lineage in stat and the trail in audit', async () => {
      const cwd = await tempDir('cli-lineage');
      const { databaseUrl } = await database.fresh();
      const env = { ...(databaseUrl ? { BOARDS_STORAGE_DATABASE_URL: databaseUrl } : {}) };
      const cli = (...args: string[]) => runCli(cwd, args, env);
      await writeFile(join(cwd, 'ref.png'), media.png());
      await writeFile(join(cwd, 'mask.png'), media.png());
      await writeFile(join(cwd, 'out.png'), media.png());
      const ref = JSON.parse((await cli('--json', 'put', 'ref.png', '--type', 'image', '--board', 'b1', '--tenant', 'alice')).stdout) as { storageKey: string };
      const mask = JSON.parse((await cli('--json', 'put', 'mask.png', '--type', 'image', '--board', 'b1', '--tenant', 'alice')).stdout) as { storageKey: string };
      const put = await cli('--json', 'put', 'out.png', '--type', 'image', '--board', 'b1', '--tenant', 'alice', '--input', ref.storageKey, '--input', mask.storageKey);
      assert.equal(put.code, 0, put.stderr);
      const out = JSON.parse(put.stdout) as { storageKey: string };

      const stat = JSON.parse((await cli('--json', 'stat', out.storageKey)).stdout) as { inputs: { storageKey: string }[] };
      assert.deepEqual(stat.inputs.map((l) => l.storageKey), [ref.storageKey, mask.storageKey].sort());
      assert.match((await cli('stat', ref.storageKey)).stdout, new RegExp(`output\\s+${out.storageKey}`));
      const ls = JSON.parse((await cli('--json', 'ls', '--tenant', 'alice', '--input', ref.storageKey)).stdout) as { items: { storageKey: string }[] };
      assert.deepEqual(ls.items.map((i) => i.storageKey), [out.storageKey]);
      assert.deepEqual((JSON.parse((await cli('--json', 'ls', '--tenant', 'alice', '--id', 'mask')).stdout) as { items: { storageKey: string }[] }).items.map((i) => i.storageKey), [mask.storageKey]);

      const foreign = await cli('--json', 'put', 'out.png', '--type', 'image', '--tenant', 'bob', '--input', ref.storageKey);
      assert.equal(foreign.code, 1);
      assert.equal((JSON.parse(foreign.stderr) as { error: { code: string } }).error.code, 'INPUT_NOT_FOUND');

      await cli('rm', mask.storageKey);
      const audit = JSON.parse((await cli('--json', 'audit', '--tenant', 'alice', '--board', 'b1')).stdout) as { items: { action: string; storageKey: string }[] };
      assert.deepEqual(audit.items.map((e) => e.action), ['deleted', 'stored', 'stored', 'stored']);
      assert.equal(audit.items[0]!.storageKey, mask.storageKey);
      const ofKey = JSON.parse((await cli('--json', 'audit', '--tenant', 'alice', '--key', out.storageKey)).stdout) as { items: { action: string }[] };
      assert.deepEqual(ofKey.items.map((e) => e.action), ['stored']);
      assert.match((await cli('audit', '--tenant', 'alice', '--key', out.storageKey)).stdout, /AT\s+ACTION\s+ACTOR\s+KEY/);
      assert.deepEqual((JSON.parse((await cli('--json', 'audit', '--tenant', 'bob')).stdout) as { items: unknown[] }).items, []);
      const bad = await cli('audit', '--since', 'yesterday');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /--since must be a time/);
      assert.match((await cli('stat', out.storageKey)).stdout, /input\s+.*\(deleted\)/);
    });
  });
}
