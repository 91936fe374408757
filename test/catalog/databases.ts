import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import { tempDir } from '../helpers.ts';

/**
 * The catalog databases a test runs against: SQLite always, PostgreSQL when
 * BOARDS_TEST_DATABASE_URL names a server (a throwaway database is made on it per test file).
 */
export interface TestDatabase {
  name: string;
  /** A fresh, empty database URL (undefined: SQLite in the data directory). */
  fresh(): Promise<{ databaseUrl?: string; dataDir: string }>;
}

const adminUrl = process.env.BOARDS_TEST_DATABASE_URL;
if (!adminUrl) console.warn('\n*** PostgreSQL catalog tests SKIPPED: set BOARDS_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run them ***\n');

export const testDatabases: TestDatabase[] = [
  { name: 'sqlite', fresh: async () => ({ dataDir: await tempDir('catalog-sqlite') }) },
  ...(adminUrl ? [{ name: 'postgres', fresh: () => freshPostgres(adminUrl) }] : []),
];

async function freshPostgres(admin: string): Promise<{ databaseUrl: string; dataDir: string }> {
  const pg = (await import('pg')).default;
  const name = `boards_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  after(async () => {
    const dropper = new pg.Client({ connectionString: admin });
    await dropper.connect();
    await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await dropper.end();
  });
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { databaseUrl: url.toString(), dataDir: await tempDir('catalog-pg') };
}
