import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DatabaseSync } from 'node:sqlite';
import { createStorageManager, NotFoundError } from '../../src/index.ts';
import type { StorageManager } from '../../src/index.ts';
import { finalizeMigration, migrationStatus, resumeMigration, rollbackMigration } from '../../src/operations/migrate.ts';
import { capabilitiesOf } from '../../src/providers/capabilities.ts';
import { copyArtifactVerified } from '../../src/operations/verified-copy.ts';
import { switchableProxy } from '../fixtures/switchable-proxy.ts';
import type { MigrationProgress } from '../../src/operations/migrate.ts';
import { storedFiles, tempDir } from '../helpers.ts';
import { createTestBucket, providerConfig as s3Config, removeTestBucket, s3SkipReason, warnSkipped } from '../s3/s3-test-server.ts';
import { testDatabases } from '../catalog/databases.ts';
import { gcsSkipReason, providerConfig as gcsConfig, testBucket as gcsBucket } from '../gcs/gcs-test-server.ts';
import { providerConfig as supabaseConfig, removeTestBuckets, supabaseSkipReason, testBuckets } from '../supabase/supabase-test-server.ts';

warnSkipped('migration tests with S3');
if (gcsSkipReason) console.warn(`\n*** SKIPPED migration to GCS: ${gcsSkipReason} ***\n`);
if (supabaseSkipReason) console.warn(`\n*** SKIPPED migration to Supabase: ${supabaseSkipReason} ***\n`);

const cliPath = new URL('../../bin/boards-storage.js', import.meta.url).pathname;

/** Random text (the artifacts are text/plain, which must be UTF-8). */
function randomText(n: number): Buffer {
  return Buffer.from(randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n));
}

/** Artifacts of assorted sizes (empty to 300 KiB) on the manager's default provider. */
async function seed(storage: StorageManager, n: number, options: { tenantId?: string } = {}): Promise<Map<string, string>> {
  const stored = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const bytes = randomText(i % 10 === 0 ? 300 * 1024 : (i * 997) % 20_000);
    const ref = await storage.storeArtifact({ artifactId: `a${i}`, artifactType: 'text', contentType: 'text/plain', content: bytes, tenantId: options.tenantId ?? 't1', boardId: `b${i % 3}` });
    stored.set(ref.storageKey, createHash('sha256').update(bytes).digest('hex'));
  }
  return stored;
}

/** Every key on a provider, by listing it. */
async function keysOn(storage: StorageManager, provider: string): Promise<string[]> {
  const keys: string[] = [];
  for (let cursor: string | undefined; ;) {
    const page = await storage.provider(provider).list('', { limit: 1000, ...(cursor ? { cursor } : {}) });
    keys.push(...page.items.map((i) => i.key));
    if (!page.nextCursor) return keys.sort();
    cursor = page.nextCursor;
  }
}

/** Every key whose row (live or in the trash) names `provider`. */
async function recordedOn(storage: StorageManager, provider: string): Promise<string[]> {
  const keys: string[] = [];
  for (let after = ''; ;) {
    const page = await storage.catalog.keysOnProvider(provider, after, 1000);
    keys.push(...page);
    if (page.length < 1000) return keys;
    after = page.at(-1)!;
  }
}

/** The bytes every row points at are there and match the recorded SHA-256. */
async function assertAllReadable(storage: StorageManager, expected: Map<string, string>): Promise<void> {
  for (const [key, sha256] of expected) {
    const bytes = await storage.download(key);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), sha256, key);
  }
}

function cli(cwd: string, args: string[]): { child: ReturnType<typeof spawn>; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd, env: { ...process.env, BOARDS_STORAGE_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => { stdout += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

/** How many migration items are switched, read beside the running CLI (0 until its tables exist). */
async function switchedItems(databaseUrl: string | undefined, sqlitePath: string): Promise<number> {
  const query = "SELECT count(*) AS n FROM migration_items WHERE state = 'switched'";
  try {
    if (databaseUrl) {
      const pg = (await import('pg')).default;
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        return Number((await client.query<{ n: string }>(query)).rows[0]!.n);
      } finally {
        await client.end();
      }
    }
    const reader = new DatabaseSync(sqlitePath, { readOnly: true });
    try {
      return Number((reader.prepare(query).get() as { n: number }).n);
    } finally {
      reader.close();
    }
  } catch {
    return 0; // the tables are not there yet
  }
}

describe('migrate local <-> S3 (Ceph RGW)', { skip: s3SkipReason }, () => {
  for (const database of testDatabases) it(`survives SIGKILL mid-run with the catalog on ${database.name}: status shows it interrupted, resume finishes it with no stray object and nothing lost, finalize removes the sources`, async () => {
    const { databaseUrl } = await database.fresh();
    const dir = await tempDir('migrate-kill');
    const bucket = await createTestBucket('migrate-kill');
    after(() => removeTestBucket(bucket));
    const configFile = join(dir, 'storage.yaml');
    const config = {
      data_dir: join(dir, 'data'),
      ...(databaseUrl ? { database_url: databaseUrl } : {}),
      default_provider: 'local',
      providers: { local: { type: 'local', config: { base_path: join(dir, 'files') } }, s3: { type: 's3', config: s3Config(bucket) } },
    };
    await writeFile(configFile, JSON.stringify({ storage: config }));
    const storage = await createStorageManager({ config, env: {} });
    const expected = await seed(storage, 150);
    await storage.close();

    const run = cli(dir, ['--config', configFile, '--json', 'migrate', '--from', 'local', '--to', 's3', '--concurrency', '4']);
    let switched = 0;
    for (let i = 0; i < 600 && switched < 30; i++) {
      await sleep(50);
      switched = await switchedItems(databaseUrl, join(dir, 'data', 'catalog.sqlite'));
    }
    assert.ok(switched >= 30 && switched < 150, `killed mid-run (${switched} of 150 switched)`);
    run.child.kill('SIGKILL');
    const killed = await run.done;
    assert.equal(killed.signal, 'SIGKILL');

    const listed = await cli(dir, ['--config', configFile, '--json', 'migrate', 'status']).done;
    assert.equal(listed.code, 0, listed.stderr);
    const runs = JSON.parse(listed.stdout) as { id: string; status: string }[];
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.status, 'interrupted');
    const id = runs[0]!.id;

    const resumed = await cli(dir, ['--config', configFile, '--json', 'migrate', 'resume', id]).done;
    assert.equal(resumed.code, 0, resumed.stderr);
    const report = JSON.parse(resumed.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(report), ['id', 'status', 'counts', 'bytes', 'failures']);
    assert.equal(report.status, 'completed');
    assert.deepEqual(report.counts, { total: 150, copied: 150, verified: 150, skipped: 0, failed: 0 });
    assert.deepEqual(report.failures, []);

    const check = await createStorageManager({ config, env: {} });
    try {
      // No stray object on the destination, no row pointing at a missing object, nothing lost.
      assert.deepEqual(await keysOn(check, 's3'), [...expected.keys()].sort());
      assert.deepEqual(await recordedOn(check, 's3'), [...expected.keys()].sort());
      assert.deepEqual(await recordedOn(check, 'local'), []);
      await assertAllReadable(check, expected);
      assert.deepEqual(await storedFiles(join(dir, 'files')), [...expected.keys()].sort(), 'the sources are kept until finalize');
    } finally {
      await check.close();
    }
    const status = JSON.parse((await cli(dir, ['--config', configFile, '--json', 'migrate', 'status', id]).done).stdout) as { status: string; counts: { verified: number } };
    assert.deepEqual([status.status, status.counts.verified], ['completed', 150]);

    const finalized = await cli(dir, ['--config', configFile, '--json', 'migrate', 'finalize', id]).done;
    assert.equal(finalized.code, 0, finalized.stderr);
    assert.equal((JSON.parse(finalized.stdout) as { status: string }).status, 'finalized');
    assert.deepEqual(await storedFiles(join(dir, 'files')), []);
    const last = await createStorageManager({ config, env: {} });
    try {
      await assertAllReadable(last, expected);
    } finally {
      await last.close();
    }
  });

  it('keeps serving reads, takes writes where routing says and never brings back a deletion during a run; rollback puts everything back', async () => {
    const dir = await tempDir('migrate-live');
    const bucket = await createTestBucket('migrate-live');
    after(() => removeTestBucket(bucket));
    const storage = await createStorageManager({
      config: { data_dir: dir, default_provider: 's3', providers: { local: { type: 'local', config: { base_path: join(dir, 'files') } }, s3: { type: 's3', config: s3Config(bucket) } } },
      env: {},
    });
    try {
      const expected = await seed(storage, 80);
      const keys = [...expected.keys()];
      const progress: MigrationProgress[] = [];
      const job = storage.migrate({ from: 's3', to: 'local', concurrency: 4, onProgress: (p) => progress.push(p) });
      const deleted: string[] = [];
      const stored = new Map<string, string>();
      let reads = 0;
      let running = true;
      void job.finally(() => { running = false; });
      // Reads of every artifact, deletions (to the trash and for good) and new stores, while it runs.
      while (running) {
        const key = keys[reads % keys.length]!;
        if (!deleted.includes(key)) {
          const bytes = await storage.download(key);
          assert.equal(createHash('sha256').update(bytes).digest('hex'), expected.get(key), `read of ${key} during the migration`);
        }
        if (reads % 7 === 3 && deleted.length < 10) {
          const victim = keys[(reads * 13) % keys.length]!;
          if (!deleted.includes(victim)) {
            assert.equal(await storage.deleteArtifact(victim, undefined, { permanent: deleted.length % 2 === 0 }), true);
            deleted.push(victim);
          }
        }
        if (reads % 11 === 5) {
          const bytes = randomText(2048);
          const ref = await storage.storeArtifact({ artifactId: `new${reads}`, artifactType: 'text', contentType: 'text/plain', content: bytes, tenantId: 't1' });
          assert.equal(ref.storageProvider, 's3', 'a store during the migration goes where routing says');
          stored.set(ref.storageKey, createHash('sha256').update(bytes).digest('hex'));
        }
        reads++;
      }
      const report = await job;
      assert.ok(deleted.length >= 3, `deletions happened during the run (${deleted.length})`);
      assert.equal(report.status, 'completed', JSON.stringify(report.failures));
      assert.equal(report.counts.total, 80);
      assert.equal(report.counts.verified + report.counts.skipped, 80);
      assert.ok(progress.length > 0 && progress.at(-1)!.done === 80);

      for (const key of deleted) await assert.rejects(storage.getArtifact(key), NotFoundError, `${key} stays deleted`);
      const live = new Map([...expected].filter(([k]) => !deleted.includes(k)));
      await assertAllReadable(storage, live);
      await assertAllReadable(storage, stored);
      // No object on the destination without a row (live or trash) naming it there.
      assert.deepEqual(await keysOn(storage, 'local'), await recordedOn(storage, 'local'));
      for (const key of stored.keys()) assert.equal((await storage.getArtifact(key)).storageProvider, 's3');

      const rolledBack = await rollbackMigration(storage, report.id);
      assert.equal(rolledBack.status, 'rolled_back');
      assert.deepEqual(await keysOn(storage, 'local'), []);
      assert.deepEqual(await recordedOn(storage, 'local'), []);
      await assertAllReadable(storage, live);
      for (const key of live.keys()) assert.equal((await storage.getArtifact(key)).storageProvider, 's3');
      // Trashed artifacts come back whole from where their row points.
      for (const key of deleted) {
        if (await storage.catalog.trash.get(key)) assert.equal(createHash('sha256').update(await (async () => { await storage.undelete(key); return storage.download(key); })()).digest('hex'), expected.get(key));
      }
    } finally {
      await storage.close();
    }
  });

  it('reports a source that does not match its checksum as a failure and moves the rest', async () => {
    const dir = await tempDir('migrate-corrupt');
    const bucket = await createTestBucket('migrate-corrupt');
    after(() => removeTestBucket(bucket));
    const storage = await createStorageManager({
      config: { data_dir: dir, default_provider: 'local', providers: { local: { type: 'local', config: { base_path: join(dir, 'files') } }, s3: { type: 's3', config: s3Config(bucket) } } },
      env: {},
    });
    try {
      const expected = await seed(storage, 5);
      const bad = [...expected.keys()][2]!;
      await writeFile(join(dir, 'files', bad), 'not the recorded bytes');
      // Read whole (a small file): one byte more than recorded fails too, and so do changed bytes of the right length.
      const longer = [...expected.keys()][3]!;
      await writeFile(join(dir, 'files', longer), Buffer.concat([await readFile(join(dir, 'files', longer)), Buffer.from('x')]));
      const changed = [...expected.keys()][4]!;
      const flipped = await readFile(join(dir, 'files', changed));
      flipped[flipped.length - 1]! ^= 1;
      await writeFile(join(dir, 'files', changed), flipped);
      const corrupt = [bad, longer, changed].sort();
      const dry = await storage.migrate({ from: 'local', to: 's3', dryRun: true });
      assert.deepEqual([dry.status, dry.counts.total], ['dry_run', 5]);
      assert.deepEqual(await keysOn(storage, 's3'), []);
      const report = await storage.migrate({ from: 'local', to: 's3', tenantId: 't1' });
      assert.equal(report.status, 'partial');
      assert.deepEqual(report.counts, { total: 5, copied: 2, verified: 2, skipped: 0, failed: 3 });
      assert.deepEqual(report.failures.map((f) => f.storageKey).sort(), corrupt);
      for (const failure of report.failures) assert.match(failure.reason, /SHA-256|bytes/);
      for (const key of corrupt) assert.equal((await storage.getArtifact(key)).storageProvider, 'local');
      assert.deepEqual(await keysOn(storage, 's3'), [...expected.keys()].filter((k) => !corrupt.includes(k)).sort(), 'nothing of the corrupt ones reached S3');
      assert.equal((await migrationStatus(storage, report.id)).status, 'partial');
      const finalized = await finalizeMigration(storage, report.id);
      assert.equal(finalized.status, 'finalized');
      assert.deepEqual(await storedFiles(join(dir, 'files')), corrupt, 'only the unverified sources stay');
    } finally {
      await storage.close();
    }
  });
});

describe('migrate verifies each copy by the checksum the destination computed', { skip: s3SkipReason }, () => {
  const MARKER = 'boards-marker-as-sent;';
  const TAMPERED = 'boards-marker-CHANGED;';
  /** Text with the marker all through it (so that every TCP segment of it holds one whole). */
  const marked = (size: number) => Buffer.from(MARKER.repeat(Math.ceil(size / MARKER.length)).slice(0, size));

  async function setUp(label: string, s3Overrides: Record<string, unknown>) {
    const dir = await tempDir(label);
    const bucket = await createTestBucket(label);
    after(() => removeTestBucket(bucket));
    const proxy = await switchableProxy(s3Config(bucket).endpoint!);
    // The body unsigned (as over https), so the gateway stores what the proxy hands it; small parts, so 6 MiB is multipart.
    const s3 = s3Config(bucket, { endpoint: proxy.url, sign_payload: false, part_size: 5 * 1024 * 1024, ...s3Overrides });
    const storage = await createStorageManager({
      config: { data_dir: dir, default_provider: 'local', providers: { local: { type: 'local', config: { base_path: join(dir, 'files') } }, s3: { type: 's3', config: s3 } } },
      env: {},
    });
    after(() => storage.close());
    const store = async (artifactId: string, bytes: Buffer) => (await storage.storeArtifact({ artifactId, artifactType: 'text', contentType: 'text/plain', content: bytes, tenantId: 't1' })).storageKey;
    const clean = await store('clean', randomText(40_000));
    const small = await store('small', marked(30_000));
    const large = await store('large', marked(6 * 1024 * 1024 + 1000));
    return { storage, proxy, clean, small, large };
  }

  it('fails an artifact whose copy the backend stored changed (single PUT and multipart), keeps it on the source with no copy left, and moves it once the path is sound', async () => {
    const { storage, proxy, clean, small, large } = await setUp('migrate-tamper', {});
    assert.deepEqual(capabilitiesOf(storage.provider('s3')).uploadChecksum, { algorithm: 'md5', partSize: 5 * 1024 * 1024 });
    proxy.tamper(MARKER, TAMPERED);
    const report = await storage.migrate({ from: 'local', to: 's3' });
    assert.equal(report.status, 'partial');
    assert.deepEqual(report.counts, { total: 3, copied: 1, verified: 1, skipped: 0, failed: 2 });
    assert.deepEqual(report.failures.map((f) => f.storageKey).sort(), [small, large].sort());
    for (const failure of report.failures) assert.match(failure.reason, /backend's checksum of the copy \(md5(-of-parts)? [0-9a-f]{32}\) is not that of the bytes sent/, failure.storageKey);
    assert.match(report.failures.find((f) => f.storageKey === large)!.reason, /md5-of-parts/);
    assert.deepEqual(await keysOn(storage, 's3'), [clean], 'the changed copies were removed');
    for (const key of [small, large]) assert.equal((await storage.getArtifact(key)).storageProvider, 'local');

    proxy.tamper();
    const resumed = await resumeMigration(storage, report.id);
    assert.equal(resumed.status, 'completed');
    assert.deepEqual(resumed.counts, { total: 3, copied: 3, verified: 3, skipped: 0, failed: 0 });
    for (const [key, size] of [[small, 30_000], [large, 6 * 1024 * 1024 + 1000]] as const) {
      assert.equal((await storage.getArtifact(key)).storageProvider, 's3');
      assert.deepEqual(Buffer.from(await storage.download(key)), marked(size), key);
    }
  });

  it('without a backend checksum (etag_is_md5: false) reads the copy back, and that catches the change too', async () => {
    const { storage, proxy, clean, small, large } = await setUp('migrate-tamper-readback', { etag_is_md5: false });
    assert.equal(capabilitiesOf(storage.provider('s3')).uploadChecksum, false);
    proxy.tamper(MARKER, TAMPERED);
    const report = await storage.migrate({ from: 'local', to: 's3' });
    assert.deepEqual(report.counts, { total: 3, copied: 1, verified: 1, skipped: 0, failed: 2 });
    for (const failure of report.failures) assert.match(failure.reason, /SHA-256 [0-9a-f]{64}, not the recorded/, failure.storageKey);
    assert.deepEqual(await keysOn(storage, 's3'), [clean]);
    for (const key of [small, large]) assert.equal((await storage.getArtifact(key)).storageProvider, 'local');
  });
});

describe('migrate local -> GCS (emulator)', { skip: gcsSkipReason }, () => {
  it('moves, verifies and finalizes, with filters', async () => {
    const dir = await tempDir('migrate-gcs');
    const storage = await createStorageManager({
      config: { data_dir: dir, providers: { local: { type: 'local', config: { base_path: join(dir, 'files') } }, gcs: { type: 'gcs', config: gcsConfig(gcsBucket('migrate')) } } },
      env: {},
    });
    try {
      const expected = await seed(storage, 20);
      const other = await seed(storage, 3, { tenantId: 't2' });
      const report = await storage.migrate({ from: 'local', to: 'gcs', tenantId: 't1', largerThan: 1000 });
      assert.equal(report.status, 'completed');
      assert.equal(report.counts.verified, report.counts.total);
      assert.deepEqual(await keysOn(storage, 'gcs'), await recordedOn(storage, 'gcs'));
      for (const key of expected.keys()) {
        const ref = await storage.getArtifact(key);
        assert.equal(ref.storageProvider, ref.size > 1000 ? 'gcs' : 'local', key);
      }
      for (const key of other.keys()) assert.equal((await storage.getArtifact(key)).storageProvider, 'local');
      await finalizeMigration(storage, report.id);
      assert.deepEqual(await recordedOn(storage, 'local'), (await storedFiles(join(dir, 'files'))));
      await assertAllReadable(storage, new Map([...expected, ...other]));
    } finally {
      await storage.close();
    }
  });
  it('verifies each copy by the MD5 GCS computed (md5Hash), without reading it back, for one-request and resumable uploads', async () => {
    const dir = await tempDir('migrate-gcs-md5');
    // Small thresholds, so that 700 KiB goes as a resumable upload of three chunks.
    const gcs = gcsConfig(gcsBucket('migrate-md5'), { simple_upload_threshold: 256 * 1024, chunk_size: 256 * 1024 });
    const storage = await createStorageManager({
      config: { data_dir: dir, providers: { local: { type: 'local', config: { base_path: join(dir, 'files') } }, gcs: { type: 'gcs', config: gcs } } },
      env: {},
    });
    try {
      assert.deepEqual(capabilitiesOf(storage.provider('gcs')).uploadChecksum, { algorithm: 'md5' });
      for (const size of [1000, 700 * 1024]) {
        const bytes = randomText(size);
        const md5 = createHash('md5').update(bytes).digest('hex');
        const uploaded = await storage.provider('gcs').upload(`direct/${size}.txt`, Readable.from([bytes]), { contentType: 'text/plain', metadata: {} });
        assert.deepEqual(uploaded.backendChecksum, { algorithm: 'md5', value: md5 }, `the upload of ${size} bytes reports GCS's MD5 of them`);
        const ref = await storage.storeArtifact({ artifactId: `md5-${size}`, artifactType: 'text', contentType: 'text/plain', content: bytes, tenantId: 't1' });
        const artifact = (await storage.catalog.get(ref.storageKey))!;
        const how = await copyArtifactVerified(artifact, { name: 'local', provider: storage.provider('local') }, { name: 'gcs', provider: storage.provider('gcs') });
        assert.equal(how, 'backend-checksum', `${size} bytes: verified by md5Hash, not read back`);
        assert.deepEqual(Buffer.concat(await (await storage.provider('gcs').openDownload(ref.storageKey)).toArray() as Buffer[]), bytes);
      }
      const report = await storage.migrate({ from: 'local', to: 'gcs' });
      assert.deepEqual([report.status, report.counts.verified, report.counts.failed], ['completed', 2, 0]);
    } finally {
      await storage.close();
    }
  });
});

describe('migrate S3 -> Supabase (real server)', { skip: s3SkipReason ?? supabaseSkipReason }, () => {
  it('moves, verifies, rolls back, moves again and finalizes', async () => {
    const dir = await tempDir('migrate-supabase');
    const bucket = await createTestBucket('migrate-supa');
    after(() => removeTestBucket(bucket));
    const buckets = await testBuckets('migrate');
    after(() => removeTestBuckets(buckets.created));
    const storage = await createStorageManager({
      config: { data_dir: dir, default_provider: 's3', providers: { s3: { type: 's3', config: s3Config(bucket) }, supabase: { type: 'supabase', config: supabaseConfig(buckets.bucket, { public_bucket: buckets.publicBucket }) } } },
      env: {},
    });
    try {
      const expected = await seed(storage, 12);
      const first = await storage.migrate({ from: 's3', to: 'supabase', concurrency: 3 });
      assert.deepEqual([first.status, first.counts.verified], ['completed', 12]);
      assert.deepEqual(await keysOn(storage, 'supabase'), [...expected.keys()].sort());
      await assertAllReadable(storage, expected);
      const back = await rollbackMigration(storage, first.id);
      assert.equal(back.status, 'rolled_back');
      assert.deepEqual(await keysOn(storage, 'supabase'), []);
      await assertAllReadable(storage, expected);
      const second = await storage.migrate({ from: 's3', to: 'supabase' });
      assert.equal(second.status, 'completed');
      await finalizeMigration(storage, second.id);
      assert.deepEqual(await keysOn(storage, 's3'), []);
      assert.deepEqual(await keysOn(storage, 'supabase'), [...expected.keys()].sort());
      await assertAllReadable(storage, expected);
    } finally {
      await storage.close();
    }
  });
});
