// Stores artifacts one after another, printing each acknowledged one, and is killed in the middle of
// the store after the last: the parent test then checks what a crash leaves while WAL checkpoints
// run in the background.
import { createHash, randomBytes } from 'node:crypto';
import { createStorageManager } from '../../src/index.ts';

const { dataDir, count } = JSON.parse(process.argv[2]!) as { dataDir: string; count: number };
const storage = await createStorageManager({ config: { data_dir: dataDir, signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: `${dataDir}/files` } } } }, env: {} });
const store = (n: number) => {
  const content = randomBytes(4096 + n);
  return storage.storeArtifact({ artifactId: `a${n}`, artifactType: 'model', boardId: `b${n % 7}`, contentType: 'application/octet-stream', content }).then((ref) => ({ ref, sha256: createHash('sha256').update(content).digest('hex') }));
};
for (let n = 0; n < count; n++) {
  const { ref, sha256 } = await store(n);
  // Writes to a pipe are synchronous on Linux: every acknowledged store is out before the kill.
  process.stdout.write(`${JSON.stringify({ storageKey: ref.storageKey, sha256, ok: ref.sha256 === sha256 })}\n`);
}
void store(count);
setImmediate(() => process.kill(process.pid, 'SIGKILL'));
