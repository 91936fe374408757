import { createRequire } from 'node:module';
import type * as KyselyModule from 'kysely';

/**
 * Kysely (about 260 modules, some 7 MB of a process) loads with the first catalog query that needs
 * it, not with the package nor with a SQLite catalog's open and stores: those run on node:sqlite
 * directly (see sqlite-schema.ts and sqlite-writes.ts). A program that only stores never pays for it.
 *
 * It loads through `require`, Kysely's CommonJS build: synchronously, so a query builder can be had
 * wherever one is asked for, and Node reads those 260 files in about 40% less time and 2.5 MB less
 * memory than through the ESM loader. This is the package's only run-time import of Kysely, so one
 * copy of its classes is ever loaded.
 */
let loaded: typeof KyselyModule | undefined;

export function kysely(): typeof KyselyModule {
  return loaded ??= createRequire(import.meta.url)('kysely') as typeof KyselyModule;
}

/** Whether Kysely has been loaded in this process (the tests check that a store does not). */
export function kyselyLoaded(): boolean {
  return loaded !== undefined;
}

/**
 * Kysely's `sql` tag, loading Kysely when first used: a template (`sql\`SELECT 1\``) or one of its
 * helpers (`sql.ref`, `sql.raw`...) is evaluated before any query builder is asked for.
 */
export const sql: typeof KyselyModule.sql = new Proxy(function lazySql() {} as unknown as typeof KyselyModule.sql, {
  apply: (_target, _self, args: unknown[]) => (kysely().sql as unknown as (...a: unknown[]) => unknown)(...args),
  get: (_target, property) => {
    const real = kysely().sql;
    const value: unknown = Reflect.get(real, property);
    return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(real) : value;
  },
});
