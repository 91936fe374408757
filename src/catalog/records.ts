import type { Kysely } from 'kysely';
import type { CatalogTables } from './tables.ts';

/** The catalog's error mapping around one operation (see Catalog.run): database errors become typed ones. */
export type CatalogRun = <T>(what: string, operation: () => Promise<T>) => Promise<T>;

/** A group of catalog queries about one concern (trash, migrations, webhooks), on the catalog's connection. */
export abstract class CatalogRecords {
  protected readonly db: Kysely<CatalogTables>;
  protected readonly run: CatalogRun;

  constructor(db: Kysely<CatalogTables>, run: CatalogRun) {
    this.db = db;
    this.run = run;
  }
}
