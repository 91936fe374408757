/**
 * One memory measurement of bench/media.bench.ts, in a process of its own (so its RSS is not the
 * bench's leftovers): a service with `transforms.max_concurrent` = PROBE_MAX_CONCURRENT stores
 * PROBE_COUNT copies of the PNG at PROBE_FILE (streamed from the file), then PROBE_COUNT requests
 * for `?width=1024&format=webp` of them arrive at once. Prints one JSON line: RSS before and at
 * the peak, in MB, and how long the requests took.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorageManager } from '../src/manager/create.ts';
import { createServer } from '../src/server/app.ts';
import { mintToken } from '../src/server/auth.ts';
import { resolveServerConfig } from '../src/server/server-config.ts';
import { freePort } from '../src/server/start.ts';
import { loadSharp } from '../src/media/sharp-loader.ts';
import { withPeakRss } from './report.ts';

const file = process.env.PROBE_FILE!;
const count = Number(process.env.PROBE_COUNT);
const maxConcurrent = Number(process.env.PROBE_MAX_CONCURRENT);
const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'boards-bench-media-memory-'));
try {
  const storage = await createStorageManager({ config: { data_dir: join(root, 'state'), providers: { local: { type: 'local', config: { base_path: join(root, 'files') } } }, transforms: { max_concurrent: maxConcurrent } }, env: {} });
  const port = await freePort('127.0.0.1');
  const serverConfig = resolveServerConfig(storage.config, {});
  serverConfig.port = port;
  const { app, jwt } = await createServer({ storage, config: serverConfig, logger: false, processMetrics: false });
  await app.listen({ host: '127.0.0.1', port });
  const token = await mintToken(jwt.secret!, { subject: 'bench', tenantId: 'default', expiresIn: 3600 });
  const size = (await stat(file)).size;
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    keys.push((await storage.storeArtifact({ artifactId: `big${i}`, artifactType: 'image', contentType: 'image/png', content: createReadStream(file), size })).storageKey);
  }
  // The base: everything loaded (sharp too) and collected, nothing transforming.
  const sharp = await loadSharp();
  global.gc?.();
  await new Promise((resolve) => setTimeout(resolve, 200));
  global.gc?.();
  const beforeMb = process.memoryUsage().rss / 1e6;
  const started = performance.now();
  const { result: bodies, peakMb } = await withPeakRss(() => Promise.all(keys.map(async (key) => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/artifacts/${key}?width=1024&format=webp`, { headers: { authorization: `Bearer ${token}` } });
    if (response.status !== 200) throw new Error(`transform of ${key}: ${response.status} ${await response.text()}`);
    return Buffer.from(await response.arrayBuffer());
  })));
  const seconds = (performance.now() - started) / 1000;
  // Each answer is the 1024 px WebP asked for, not just any 200.
  for (const body of bodies) {
    const meta = await sharp(body).metadata();
    if (meta.format !== 'webp' || meta.width !== 1024) throw new Error(`a transform answered ${meta.format} ${meta.width}x${meta.height}, not a 1024 px WebP`);
  }
  console.log(JSON.stringify({ beforeMb, peakMb, seconds }));
  await app.close();
  await storage.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
