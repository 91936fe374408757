import type * as KyselyModule from 'kysely';

/**
 * Kysely (about 260 modules, some 10 MB of a process) loads with the first catalog opened, not with
 * the package: `import 'boards-storage'` stays light, and a program that never opens a catalog never
 * pays for it. Catalog modules import `sql` from here, a live binding set by `loadKysely` before any
 * query can run.
 */
export let sql!: typeof KyselyModule.sql;

export async function loadKysely(): Promise<typeof KyselyModule> {
  const kysely = await import('kysely');
  sql = kysely.sql;
  return kysely;
}
