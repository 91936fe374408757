import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createStorageManager } from '../../src/index.ts';
import { LISTENER_NAME } from '../../src/cluster/artifact-changes.ts';
import { Authenticator } from '../../src/server/auth.ts';
import { keepCachesCoherent } from '../../src/server/cache-coherence.ts';
import { ContentCache } from '../../src/server/content-cache.ts';
import { ServerMetrics } from '../../src/server/metrics.ts';
import { resolveServerConfig } from '../../src/server/server-config.ts';
import { testDatabases } from '../catalog/databases.ts';

/**
 * The catalog's change announcements on a real PostgreSQL: a delete or visibility change made by
 * another process (here a second manager on the same database, as the CLI would be) drops the
 * artifact from the cache; when the listening connection is killed, the cache is off until it is
 * back, and comes back empty.
 */

const postgres = testDatabases.find((d) => d.name === 'postgres');
if (!postgres) console.warn('\n*** SKIPPED cache coherence on PostgreSQL: set BOARDS_TEST_DATABASE_URL ***\n');

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('cache coherence through the catalog (PostgreSQL LISTEN/NOTIFY)', { skip: !postgres && 'no PostgreSQL' }, () => {
  it('drops what another process deletes or hides, and caches nothing while it cannot hear', async () => {
    const { databaseUrl, dataDir } = await postgres!.fresh();
    const config = { data_dir: dataDir, database_url: databaseUrl!, signing_secret: 's'.repeat(32), trash_retention: 0, providers: { local: { type: 'local', config: { base_path: join(dataDir, 'files') } } } };
    const node = await createStorageManager({ config, env: {} });
    const other = await createStorageManager({ config, env: {} });
    const cache = new ContentCache(1024 * 1024, 8 * 1024 * 1024);
    const metrics = new ServerMetrics({ processMetrics: false });
    const authenticator = new Authenticator(resolveServerConfig(node.config, {}).auth, 'x'.repeat(32));
    const errors: unknown[] = [];
    const stop = await keepCachesCoherent(node, { cache, authenticator, metrics, pingIntervalMs: 500, onError: (e) => errors.push(e) });
    assert.ok(stop, 'listens on PostgreSQL');
    const listening = async () => (await metrics.cacheListening.get()).values[0]?.value;
    try {
      assert.equal(await listening(), 1);
      const put = async (text: string) => node.storeArtifact({ artifactId: 'n', artifactType: 'text', contentType: 'text/plain', content: text, tenantId: 't' });
      const [deleted, hidden, kept] = await Promise.all([put('deleted'), put('hidden'), put('kept')]);
      for (const ref of [deleted, hidden, kept]) cache.set(`${ref.storageKey}\n${ref.sha256}`, Buffer.from('bytes'));
      assert.equal(cache.size, 3);

      await other.deleteArtifact(deleted.storageKey);
      await until('the deleted artifact leaves the cache', () => !cache.get(`${deleted.storageKey}\n${deleted.sha256}`), 2000);
      await other.setVisibility(hidden.storageKey, 'public');
      await until('the artifact whose visibility changed leaves the cache', () => !cache.get(`${hidden.storageKey}\n${hidden.sha256}`), 2000);
      assert.ok(cache.get(`${kept.storageKey}\n${kept.sha256}`), 'an unchanged artifact stays cached');

      // The listening connection dies (a database restart, a proxy's idle cut): changes could be missed now.
      const pg = (await import('pg')).default;
      const admin = new pg.Client({ connectionString: databaseUrl });
      await admin.connect();
      const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()', [LISTENER_NAME]);
      await admin.end();
      assert.equal(rowCount, 1);
      await until('the cache turns off', () => !cache.accepts(10), 3000);
      assert.equal(cache.size, 0, 'everything cached is dropped');
      // It reconnects by itself, and caches again from empty.
      await until('listening again', async () => (await listening()) === 1 && cache.accepts(10), 10_000);
      assert.equal(cache.size, 0);
      cache.set(`${kept.storageKey}\n${kept.sha256}`, Buffer.from('bytes'));
      await other.deleteArtifact(kept.storageKey);
      await until('announcements arrive again', () => cache.size === 0, 2000);
      const resyncs = (await metrics.cacheInvalidations.get()).values.find((v) => v.labels.reason === 'resync')?.value;
      assert.ok((resyncs ?? 0) >= 1);
    } finally {
      await stop?.();
      await node.close();
      await other.close();
    }
  });
});
