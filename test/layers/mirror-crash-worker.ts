// Stores one artifact on a provider with a mirror and is killed before the copy can run: the
// parent test then shows the durable queue completes the copy after a restart.
import { createStorageManager } from '../../src/index.ts';
import type { StorageConfigInput } from '../../src/index.ts';

const { config } = JSON.parse(process.argv[2]!) as { config: StorageConfigInput };
const storage = await createStorageManager({ config, env: {} });
const ref = await storage.storeArtifact({ artifactId: 'crash', artifactType: 'text', contentType: 'text/plain', content: 'written just before the crash' });
// Writes to a pipe are synchronous on Linux: the key is out before the kill, the copy is not.
process.stdout.write(JSON.stringify({ storageKey: ref.storageKey }));
process.kill(process.pid, 'SIGKILL');
