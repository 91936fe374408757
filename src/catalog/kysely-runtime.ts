import { createRequire } from 'node:module';
import type * as KyselyModule from 'kysely';

/**
 * Kysely (about 260 modules, some 10 MB of a process) loads with the first catalog opened, not with
 * the package: `import 'boards-storage'` stays light, and a program that never opens a catalog never
 * pays for it. Catalog modules import `sql` from here, a live binding set by `loadKysely` before any
 * query can run.
 *
 * It loads through `require`, Kysely's CommonJS build: Node reads those 260 files in about 40% less
 * time and 2.5 MB less memory than through the ESM loader, which resolves, links and evaluates each
 * as a module job. This is the package's only run-time import of Kysely, so one copy of its classes
 * is ever loaded.
 */
export let sql!: typeof KyselyModule.sql;

export async function loadKysely(): Promise<typeof KyselyModule> {
  const kysely = createRequire(import.meta.url)('kysely') as typeof KyselyModule;
  sql = kysely.sql;
  return kysely;
}
