import { createReadStream, createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { once } from 'node:events';
import { sqlite } from '../sqlite/node-sqlite.ts';
import { sql } from '../catalog/kysely-runtime.ts';
import type { Kysely } from 'kysely';
import { StorageError } from '../errors.ts';
import type { Catalog } from '../catalog/catalog.ts';

/**
 * A consistent copy of the whole catalog: SQLite's own `VACUUM INTO` (one read transaction, a
 * compact file), or for PostgreSQL every table read inside one REPEATABLE READ, READ ONLY
 * transaction (so all tables are of one moment) through cursors (bounded memory), written as
 * NDJSON lines `{"t": table, "r": row}`.
 */
export type SnapshotFormat = 'sqlite' | 'ndjson';

/** Tables a snapshot leaves out or a restore skips: the migrator's own, and uploads whose objects are not backed up. */
const NOT_RESTORED = new Set(['kysely_migration', 'kysely_migration_lock', 'pending_uploads']);
const PAGE = 1000;

export async function snapshotCatalog(catalog: Catalog, file: string): Promise<SnapshotFormat> {
  const db = catalog.kysely as unknown as Kysely<Record<string, Record<string, unknown>>>;
  if (catalog.dialect === 'sqlite') {
    await sql`VACUUM INTO ${file}`.execute(db);
    return 'sqlite';
  }
  const out = createWriteStream(file);
  try {
    await db.transaction().setIsolationLevel('repeatable read').execute(async (tx) => {
      await sql`SET TRANSACTION READ ONLY`.execute(tx);
      const tables = await sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`.execute(tx);
      for (const { table_name: table } of tables.rows) {
        if (table.startsWith('kysely_')) continue;
        await sql`DECLARE boards_snapshot NO SCROLL CURSOR FOR SELECT * FROM ${sql.table(table)}`.execute(tx);
        for (;;) {
          const { rows } = await sql<Record<string, unknown>>`FETCH ${sql.raw(String(PAGE))} FROM boards_snapshot`.execute(tx);
          for (const row of rows) await writeLine(out, JSON.stringify({ t: table, r: row }) + '\n');
          if (rows.length < PAGE) break;
        }
        await sql`CLOSE boards_snapshot`.execute(tx);
      }
    });
    out.end();
    await once(out, 'finish');
  } catch (error) {
    out.destroy();
    throw new StorageError(`exporting the PostgreSQL catalog failed: ${(error as Error).message}`, { cause: error });
  }
  return 'ndjson';
}

/** Every restorable table's rows, a batch at a time. */
export async function* snapshotRows(file: string, format: SnapshotFormat): AsyncGenerator<{ table: string; rows: Record<string, unknown>[] }> {
  if (format === 'sqlite') {
    const db = new sqlite.DatabaseSync(file, { readOnly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[];
      for (const { name } of tables) {
        if (NOT_RESTORED.has(name)) continue;
        let rows: Record<string, unknown>[] = [];
        for (const row of db.prepare(`SELECT * FROM "${name.replaceAll('"', '""')}"`).iterate()) {
          rows.push({ ...(row as Record<string, unknown>) });
          if (rows.length === PAGE) {
            yield { table: name, rows };
            rows = [];
          }
        }
        if (rows.length) yield { table: name, rows };
      }
    } finally {
      db.close();
    }
    return;
  }
  let table = '';
  let rows: Record<string, unknown>[] = [];
  for await (const line of process.getBuiltinModule('node:readline').createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (!line) continue;
    const { t, r } = JSON.parse(line) as { t: string; r: Record<string, unknown> };
    if (NOT_RESTORED.has(t)) continue;
    if ((t !== table || rows.length === PAGE) && rows.length) {
      yield { table, rows };
      rows = [];
    }
    table = t;
    rows.push(r);
  }
  if (rows.length) yield { table, rows };
}

/** The artifacts of a snapshot, live and in the trash. */
export async function* snapshotArtifacts(file: string, format: SnapshotFormat): AsyncGenerator<Record<string, unknown> & { storage_key: string; provider: string; size: number; sha256: string; content_type: string; trashed: boolean }> {
  for await (const { table, rows } of snapshotRows(file, format)) {
    if (table !== 'artifacts' && table !== 'trash') continue;
    for (const row of rows) yield { ...row, trashed: table === 'trash' } as never;
  }
}

/** The newest audit entry's id and time: the snapshot's position in the catalog's history. */
export async function snapshotPosition(file: string, format: SnapshotFormat): Promise<{ auditId?: string; at?: string }> {
  let best: { id: string; at: string } | undefined;
  for await (const { table, rows } of snapshotRows(file, format)) {
    if (table !== 'audit_log') continue;
    for (const r of rows) if (!best || String(r.id) > best.id) best = { id: String(r.id), at: String(r.at) };
  }
  return best ? { auditId: best.id, at: best.at } : {};
}

async function writeLine(out: WriteStream, line: string): Promise<void> {
  if (!out.write(line)) await once(out, 'drain');
}
