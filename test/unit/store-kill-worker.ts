// Stores without end until it is killed: new artifacts from two loops at once (so records share
// commits), and now and then a replacement of one fixed object straight through the local
// provider. Each acknowledged store is printed as one JSON line; the parent kills this process
// at a random moment and checks what the next start finds.
import { createHash, randomBytes } from 'node:crypto';
import { createStorageManager } from '../../src/index.ts';

export const REPLACED_KEY = 't/replaced/obj_20260101000000_00000000/original.bin';
const { dataDir, run } = JSON.parse(process.argv[2]!) as { dataDir: string; run: number };
const storage = await createStorageManager({ config: { data_dir: dataDir, signing_secret: 's'.repeat(32), providers: { local: { type: 'local', config: { base_path: `${dataDir}/files` } } } }, env: {} });
const local = storage.provider('local');
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
process.stdout.write(`${JSON.stringify({ started: true })}\n`);

async function storeLoop(loop: number): Promise<void> {
  for (let n = 0; ; n++) {
    if (loop === 0 && n % 5 === 4) {
      const content = randomBytes(1000 + (n % 3000));
      await local.upload(REPLACED_KEY, (async function* () { yield content; })(), { contentType: 'application/octet-stream', metadata: { sha256: sha256(content) } });
      continue;
    }
    // Small ones are written with synchronous calls, larger ones stream: both paths are killed in.
    const content = randomBytes(n % 7 === 0 ? 300_000 : 2000 + n);
    const ref = await storage.storeArtifact({ artifactId: `r${run}l${loop}n${n}`, artifactType: 'model', boardId: `b${n % 3}`, contentType: 'application/octet-stream', content });
    // Writes to a pipe are synchronous on Linux: every acknowledged store is out before a kill.
    process.stdout.write(`${JSON.stringify({ storageKey: ref.storageKey, sha256: sha256(content), ok: ref.sha256 === sha256(content) })}\n`);
  }
}
await Promise.all([storeLoop(0), storeLoop(1)]);
