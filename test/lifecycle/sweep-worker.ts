// One process of the "two processes sweep at once" test: open the manager on the given catalog
// and disk, sweep, print the report.
import { join } from 'node:path';
import { createStorageManager } from '../../src/index.ts';
import { sweepExpired } from '../../src/lifecycle/expiry-sweep.ts';

const target = JSON.parse(process.argv[2]!) as { databaseUrl?: string; dataDir: string };
const storage = await createStorageManager({ config: { data_dir: target.dataDir, ...(target.databaseUrl ? { database_url: target.databaseUrl } : {}), signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: join(target.dataDir, 'files') } } } }, env: {} });
try {
  process.stdout.write(JSON.stringify(await sweepExpired(storage, { batchSize: 7 })));
} finally {
  await storage.close();
}
