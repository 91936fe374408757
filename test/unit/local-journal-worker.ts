// Holds one store into a local base open, half written, until it is killed: the temp file is
// made and the key noted in this process's journal, and the content never ends.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { LocalProvider } from '../../src/providers/local.ts';

const { base, key } = JSON.parse(process.argv[2]!) as { base: string; key: string };
const provider = await LocalProvider.open({ base_path: base });
const upload = provider.upload(key, (async function* () {
  yield Buffer.from('the first bytes of a store that never ends');
  await new Promise(() => undefined);
})(), { contentType: 'application/octet-stream', metadata: {} });
upload.catch(() => undefined); // never settles: the process is killed
while (!existsSync(join(base, `${key}~tmp`))) await delay(5);
process.stdout.write(`held ${process.pid}\n`);
setInterval(() => undefined, 60_000); // alive until killed
