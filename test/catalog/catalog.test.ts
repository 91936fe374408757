import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { auditId, Catalog } from '../../src/catalog/catalog.ts';
import type { CatalogArtifact } from '../../src/catalog/catalog.ts';
import { createStorageManager, StorageError, NotFoundError } from '../../src/index.ts';
import { storedFiles } from '../helpers.ts';
import { testDatabases } from './databases.ts';

function artifact(n: number, over: Partial<CatalogArtifact> = {}): CatalogArtifact {
  const tenantId = over.tenantId ?? 'alice';
  const artifactType = over.artifactType ?? 'image';
  const board = over.boardId ?? `b${n % 3}`;
  return {
    artifactId: `a${n}`, storageKey: `${tenantId}/${artifactType}/${board}/a${n}_20260101000000_${String(n).padStart(8, '0')}/original.png`,
    storageProvider: 'local', contentType: 'image/png', size: 1000 + n, sha256: 'f'.repeat(64), visibility: 'private',
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n % 60)).toISOString(), tenantId, boardId: board, artifactType, variant: 'original.png',
    metadata: { n }, ...over,
  };
}

for (const database of testDatabases) {
  describe(`catalog on ${database.name}`, () => {
    it('records concurrent stores together: each is recorded or refused on its own, with its audit entry', async () => {
      const catalog = await Catalog.open(await database.fresh());
      try {
        await catalog.record(artifact(1), 'user-1');
        // Stores under way at once (together: one group commit on SQLite); one of them repeats a recorded key.
        // Another fails half way: its artifact row is in when its (twice given) lineage link is refused.
        const link = { tenant_id: 'alice', output_key: artifact(6).storageKey, input_key: artifact(1).storageKey, input_artifact_id: 'a1', input_type: 'image', output_artifact_id: 'a6', output_type: 'image', created_at: artifact(6).createdAt };
        const outcomes = await Promise.allSettled([
          ...[2, 1, 3].map((n) => catalog.record(artifact(n), `user-${n}`, 'stored', [], [], [], { together: true })),
          catalog.record(artifact(6), 'user-6', 'stored', [], [], [link, link], { together: true }),
          catalog.record(artifact(4), 'user-4', 'stored', [], [], [], { together: true }),
        ]);
        assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
        const refused = (outcomes[1] as PromiseRejectedResult).reason as unknown;
        assert.ok(refused instanceof StorageError && refused.code === 'CONFLICT', String(refused));
        assert.equal(await catalog.get(artifact(6).storageKey), undefined, 'a refused store leaves no part of its record');
        assert.deepEqual(await catalog.auditTrail(artifact(6).storageKey), []);
        for (const n of [2, 3, 4]) {
          assert.deepEqual(await catalog.get(artifact(n).storageKey), artifact(n));
          assert.deepEqual((await catalog.auditTrail(artifact(n).storageKey)).map((e) => [e.action, e.actor]), [['stored', `user-${n}`]]);
        }
        // The refused one left the first record and its single audit entry as they were.
        assert.deepEqual((await catalog.auditTrail(artifact(1).storageKey)).map((e) => e.actor), ['user-1']);
        assert.equal((await catalog.usage('alice')).total.count, 4);
        // A store alone after the group commits on its own, as before.
        await catalog.record(artifact(5));
        assert.equal((await catalog.usage('alice')).total.count, 5);
      } finally {
        await catalog.close();
      }
    });

    it('records, finds, lists by keyset, counts and removes artifacts, with an audit trail', async () => {
      const catalog = await Catalog.open(await database.fresh());
      try {
        for (let n = 0; n < 25; n++) await catalog.record(artifact(n), 'user-1');
        await catalog.record(artifact(100, { tenantId: 'bob' }));
        await catalog.record(artifact(101, { artifactType: 'video', contentType: 'video/mp4', storageProvider: 's3' }));
        const one = await catalog.get(artifact(7).storageKey);
        assert.deepEqual(one, artifact(7));
        assert.equal(await catalog.get('alice/image/nope'), undefined);

        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await catalog.list({ tenantId: 'alice', artifactType: 'image', limit: 10, ...(cursor ? { cursor } : {}) });
          seen.push(...page.items.map((i) => i.storageKey));
          cursor = page.nextCursor;
        } while (cursor);
        assert.equal(seen.length, 25);
        assert.deepEqual(seen, [...seen].sort());
        assert.equal(new Set(seen).size, 25);
        assert.equal((await catalog.list({ tenantId: 'alice', boardId: 'b1', limit: 100 })).items.length, 8);
        assert.equal((await catalog.list({ tenantId: 'alice', prefix: 'video/', limit: 100 })).items.length, 1);
        assert.ok((await catalog.list({ tenantId: 'bob', limit: 100 })).items.every((i) => i.tenantId === 'bob'));

        const usage = await catalog.usage('alice');
        assert.deepEqual(usage.total, { count: 26, bytes: Array.from({ length: 25 }, (_, n) => 1000 + n).reduce((a, b) => a + b) + 1101 });
        assert.deepEqual(usage.byProvider.map((p) => [p.provider, p.count]), [['local', 25], ['s3', 1]]);
        assert.deepEqual(usage.byArtifactType.map((p) => [p.artifactType, p.count]), [['image', 25], ['video', 1]]);

        assert.equal(await catalog.setVisibility(artifact(7).storageKey, 'alice', 'public', 'user-2'), true);
        assert.equal((await catalog.get(artifact(7).storageKey))?.visibility, 'public');
        assert.equal(await catalog.remove(artifact(7).storageKey, 'alice', 'user-3'), true);
        assert.equal(await catalog.remove(artifact(7).storageKey, 'alice', 'user-3'), false);
        const trail = await catalog.auditTrail(artifact(7).storageKey);
        assert.deepEqual(trail.map((e) => [e.action, e.actor]), [['stored', 'user-1'], ['visibility_changed', 'user-2'], ['deleted', 'user-3']]);
        await assert.rejects(catalog.record(artifact(8)), (e: unknown) => e instanceof StorageError && e.code === 'CONFLICT');
      } finally {
        await catalog.close();
      }
    });

    it('pages through thousands of artifacts with no duplicates or gaps while more arrive', async () => {
      const catalog = await Catalog.open(await database.fresh());
      const total = database.name === 'sqlite' ? 10_000 : 3_000;
      try {
        for (let n = 0; n < total; n += 2) await catalog.record(artifact(n, { boardId: 'b' }));
        const seen: string[] = [];
        let cursor: string | undefined;
        let arriving = 1;
        do {
          const page = await catalog.list({ tenantId: 'alice', limit: 500, ...(cursor ? { cursor } : {}) });
          seen.push(...page.items.map((i) => i.storageKey));
          cursor = page.nextCursor;
          // New artifacts land on both sides of the cursor while the listing goes on.
          for (let k = 0; k < 50 && arriving < total; k++, arriving += 2) await catalog.record(artifact(arriving, { boardId: 'b' }));
        } while (cursor);
        assert.equal(new Set(seen).size, seen.length, 'no duplicates');
        assert.deepEqual(seen, [...seen].sort(), 'in key order');
        const evens = new Set(Array.from({ length: total / 2 }, (_, i) => artifact(i * 2, { boardId: 'b' }).storageKey));
        for (const key of evens) assert.ok(seen.includes(key), `${key} was there before the listing and must be listed`);
      } finally {
        await catalog.close();
      }
    });

    it('records mirror copies, retires a completed upload and writes nothing when any part fails', async () => {
      const target = await database.fresh();
      const catalog = await Catalog.open(target);
      try {
        await catalog.record(artifact(1), 'user-1', 'stored', ['backup', 'cold']);
        assert.deepEqual(await catalog.copiesOf(artifact(1).storageKey), [{ provider: 'backup', status: 'pending' }, { provider: 'cold', status: 'pending' }]);
        const now = new Date();
        await catalog.addPendingUpload({ storage_key: artifact(2).storageKey, provider: 'local', tenant_id: 'alice', board_id: 'b2', artifact_type: 'image', artifact_id: 'a2', variant: 'original.png', content_type: 'image/png', max_size: 5000, actor: null, created_at: now.toISOString(), expires_at: new Date(now.getTime() + 60_000).toISOString() });
        await catalog.record(artifact(2), 'user-1', 'upload_completed');
        assert.equal(await catalog.getPendingUpload(artifact(2).storageKey), undefined);
        assert.deepEqual((await catalog.auditTrail(artifact(2).storageKey)).map((e) => e.action), ['upload_presigned', 'upload_completed']);
        // A second record of the same key fails on the artifact row: its copies and audit entry go with it.
        await assert.rejects(catalog.record(artifact(1), 'user-2', 'stored', ['other']), (e: unknown) => e instanceof StorageError && e.code === 'CONFLICT');
        assert.deepEqual((await catalog.copiesOf(artifact(1).storageKey)).map((c) => c.provider), ['backup', 'cold']);
        assert.deepEqual((await catalog.auditTrail(artifact(1).storageKey)).map((e) => e.actor), ['user-1']);
        // The connection is usable afterwards: no transaction was left open.
        await catalog.record(artifact(3));
        assert.equal((await catalog.get(artifact(3).storageKey))?.size, 1003);
      } finally {
        await catalog.close();
      }
    });

    it('keeps an audit trail in the order of its events, even within one millisecond', async () => {
      const catalog = await Catalog.open(await database.fresh());
      try {
        for (let n = 0; n < 20; n++) {
          const key = artifact(n).storageKey;
          await catalog.record(artifact(n), 'user-1');
          await catalog.setVisibility(key, 'alice', 'public', 'user-2');
          await catalog.setVisibility(key, 'alice', 'private', 'user-3');
          await catalog.remove(key, 'alice', 'user-4');
          assert.deepEqual((await catalog.auditTrail(key)).map((e) => e.action), ['stored', 'visibility_changed', 'visibility_changed', 'deleted']);
          assert.deepEqual((await catalog.auditTrail(key)).map((e) => e.actor), ['user-1', 'user-2', 'user-3', 'user-4']);
        }
      } finally {
        await catalog.close();
      }
    });

    it('runs its migrations once when several processes start together', async () => {
      const target = await database.fresh();
      const catalogs = await Promise.all(Array.from({ length: 4 }, () => Catalog.open(target)));
      await catalogs[0]!.record(artifact(1));
      for (const c of catalogs) assert.equal((await c.get(artifact(1).storageKey))?.size, 1001);
      await Promise.all(catalogs.map((c) => c.close()));
    });

    it('keeps the store and the catalog consistent when recording fails', async () => {
      const target = await database.fresh();
      const files = join(target.dataDir, 'files');
      const storage = await createStorageManager({ config: { data_dir: target.dataDir, ...(target.databaseUrl ? { database_url: target.databaseUrl } : {}), signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: files } } } }, env: {} });
      try {
        const kept = await storage.storeArtifact({ artifactId: 'kept', artifactType: 'text', contentType: 'text/plain', content: 'kept' });
        // Break the catalog underneath the manager: the next record fails for real.
        if (database.name === 'sqlite') {
          const db = new DatabaseSync(join(target.dataDir, 'catalog.sqlite'));
          db.exec('DROP TABLE audit_log');
          db.close();
        } else {
          const pg = (await import('pg')).default;
          const client = new pg.Client({ connectionString: target.databaseUrl });
          await client.connect();
          await client.query('DROP TABLE audit_log');
          await client.end();
        }
        await assert.rejects(storage.storeArtifact({ artifactId: 'lost', artifactType: 'text', contentType: 'text/plain', content: 'never recorded' }), StorageError);
        assert.deepEqual(await storedFiles(files), [kept.storageKey], 'the object of a failed record is removed');
        await assert.rejects(storage.getArtifact('default/text/lost_20260101000000_00000000/original.txt'), NotFoundError);
      } finally {
        await storage.close();
      }
    });
  });
}

describe('audit ids', () => {
  it('are UUIDv7s that sort in the order they were made', () => {
    const ids = Array.from({ length: 20_000 }, () => auditId());
    assert.ok(ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)), 'RFC 9562 version 7 layout');
    assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]!), 'strictly increasing, within a millisecond too');
    assert.ok(Math.abs(parseInt(ids.at(-1)!.replace('-', '').slice(0, 12), 16) - Date.now()) < 60_000, 'the leading 48 bits are the time in ms');
  });
});

describe('catalog configuration', () => {
  it('refuses a database_url it cannot use, naming the key', async () => {
    await assert.rejects(Catalog.open({ databaseUrl: 'mysql://x', dataDir: '.' }), /database_url: use a postgres:\/\/ URL/);
    await assert.rejects(Catalog.open({ databaseUrl: 'postgres://nobody@127.0.0.1:1/none', dataDir: '.' }), /database_url: the catalog could not be prepared/);
  });
});

describe('catalog on postgres when the server ends its connections', { skip: testDatabases.some((d) => d.name === 'postgres') ? undefined : 'no PostgreSQL' }, () => {
  it('outlives the end of its idle connections and answers the next query on a new one', async () => {
    const target = await testDatabases.find((d) => d.name === 'postgres')!.fresh();
    const catalog = await Catalog.open(target);
    try {
      await catalog.record(artifact(1));
      const pg = (await import('pg')).default;
      const admin = new pg.Client({ connectionString: process.env.BOARDS_TEST_DATABASE_URL });
      await admin.connect();
      try {
        // What a restart or an administrator does: every connection to the catalog's database ends.
        const dbName = new URL(target.databaseUrl!).pathname.slice(1);
        const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [dbName]);
        assert.ok(rowCount && rowCount > 0, 'the catalog held a connection');
      } finally {
        await admin.end();
      }
      // Without a listener the pool's error event would have ended this process by now.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await catalog.get(artifact(1).storageKey))?.size, 1001);
    } finally {
      await catalog.close();
    }
  });
});
