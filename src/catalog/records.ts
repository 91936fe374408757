import type { DatabaseSync } from 'node:sqlite';
import type { Kysely } from 'kysely';
import type { CatalogTables } from './tables.ts';

/** The catalog's error mapping around one operation (see Catalog.run): database errors become typed ones. */
export type CatalogRun = <T>(what: string, operation: () => Promise<T>) => Promise<T>;

/** A group of catalog queries about one concern (trash, migrations, webhooks), on the catalog's connection. */
export abstract class CatalogRecords {
  private readonly kysely: () => Kysely<CatalogTables>;
  protected readonly run: CatalogRun;
  /**
   * SQLite: the catalog's connection while Kysely is not in use on it (undefined after, and on
   * PostgreSQL), for the few reads a program that only stores makes, so that it need not load Kysely.
   */
  protected readonly direct: () => DatabaseSync | undefined;

  /** `db` gives the catalog's query layer, loading Kysely on first use (see kysely-runtime.ts). */
  constructor(db: () => Kysely<CatalogTables>, run: CatalogRun, direct: () => DatabaseSync | undefined = () => undefined) {
    this.kysely = db;
    this.run = run;
    this.direct = direct;
  }

  protected get db(): Kysely<CatalogTables> {
    return this.kysely();
  }
}
