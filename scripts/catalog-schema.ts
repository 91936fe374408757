// Writes src/catalog/sqlite-schema-snapshot.ts: the SQLite schema the catalog's migrations build,
// which a new SQLite catalog is created from without loading Kysely (see src/catalog/sqlite-schema.ts).
// Run it after adding a migration: `node scripts/catalog-schema.ts`; test/catalog checks it is current.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { migratorSchema } from '../src/catalog/sqlite-schema.ts';

const { migrations, schema } = await migratorSchema();
const target = fileURLToPath(new URL('../src/catalog/sqlite-schema-snapshot.ts', import.meta.url));
writeFileSync(target, `// Written by scripts/catalog-schema.ts from src/catalog/migrations.ts: do not edit; run the script after adding a migration.

/** The migrations the snapshot is of. */
export const SQLITE_MIGRATIONS: readonly string[] = ${JSON.stringify(migrations, null, 2).replaceAll('"', '\'')};

/** The schema they build on SQLite, statement by statement, in the order its objects were made. */
export const SQLITE_SCHEMA: readonly string[] = [
${schema.map((s) => `  ${JSON.stringify(s)},`).join('\n')}
];
`);
console.log(`${target}: ${migrations.length} migrations, ${schema.length} statements`);
