/**
 * Load on the real service: 200 concurrent connections (autocannon) mixing uploads
 * (POST /v1/artifacts, 1-200 KiB, every body unique) and downloads (GET /v1/artifacts/{key}, 1 KiB-1 MiB, some cached,
 * some streamed) for 30 s against the service in a child process on 127.0.0.1 (local disk + SQLite
 * in a temp directory). Then every stored artifact is read back and checked against its SHA-256.
 * Prints requests, errors (must be 0), req/s, p50/p99 latency and the server process's peak RSS
 * (target < 300 MB).
 *
 *   node bench/server-load.bench.ts     (BENCH_LOAD_SECONDS=30, BENCH_LOAD_CONNECTIONS=200)
 * The service runs with --max-semi-space-size=8, as the README recommends for `serve`;
 * BENCH_SERVER_NODE_ARGS="" runs it with Node's defaults (about 70 MB more at peak).
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reportLimit } from './report.ts';
import { autocannon, startService } from './server.bench.ts';
import type { ServiceChild } from './server.bench.ts';

const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 30);
const CONNECTIONS = Number(process.env.BENCH_LOAD_CONNECTIONS ?? 200);
const RSS_LIMIT_MB = 300;
const NODE_ARGS = ['--max-semi-space-size=8'];
const KiB = 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'boards-bench-load-'));
await chmod(root, 0o755);
let service: ServiceChild | undefined;
try {
  // As the README recommends for `serve` (and `npm start` does): V8's young generation kept to 8 MiB semi-spaces.
  service = await startService(root, { nodeArgs: NODE_ARGS });
  const auth = await service.bearer('load');
  const headers = { authorization: auth };

  // What clients upload: every body unique (a few reused bodies would let caches and the page cache
  // flatter memory), 1-256 KiB, 64 KiB on average; each hash is kept for the read-back check.
  const uploadSizes = [1, 4, 16, 64, 100, 200, 64].map((k) => k * KiB);
  const random = randomBytes(256 * KiB);
  const uploadedHashes = new Set<string>();
  const uniqueBody = (i: number): Buffer => {
    const body = Buffer.from(random.subarray(0, uploadSizes[i % uploadSizes.length]!));
    // The request's number in the last bytes: the head (what sniffing reads) stays plain bytes.
    body.writeUInt32BE(i, Math.max(0, body.length - 8));
    body.writeUInt32BE(Math.floor(Math.random() * 2 ** 32), Math.max(0, body.length - 4));
    uploadedHashes.add(sha256(body));
    return body;
  };
  // What clients download: seeded artifacts, small (served from the cache) and large (streamed).
  const seeded = [1, 8, 32, 64, 128, 256, 512, 1024].flatMap((k) => Array.from({ length: 4 }, () => randomBytes(k * KiB)));
  const known = new Set(seeded.map(sha256));
  const downloadPaths: string[] = [];
  for (const [i, body] of seeded.entries()) {
    const res = await fetch(`${service.url}/v1/artifacts?artifactType=model&artifactId=seed${i}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/octet-stream' }, body });
    if (res.status !== 201) throw new Error(`seeding: ${res.status} ${await res.text()}`);
    downloadPaths.push(`/v1/artifacts/${(await res.json() as { storageKey: string }).storageKey}`);
  }

  // What the service's memory is made of while the load runs: sampled, the largest of each kept.
  const peaks = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const now = await service!.memoryUsage().catch(() => undefined);
      if (now) for (const k of Object.keys(peaks) as (keyof typeof peaks)[]) peaks[k] = Math.max(peaks[k], now[k]);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  let n = 0;
  const result = await autocannon({
    url: service.url, connections: CONNECTIONS, duration: SECONDS, timeout: 30,
    requests: [{
      setupRequest: (req) => {
        const i = n++;
        if (i % 2 === 0) {
          return { ...req, method: 'POST', path: '/v1/artifacts?artifactType=model', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: uniqueBody(i >> 1) };
        }
        return { ...req, method: 'GET', path: downloadPaths[(i >> 1) % downloadPaths.length]!, headers, body: '' };
      },
    }],
  });
  sampling = false;
  await sampler;
  const rssMb = await service.peakRssMb();

  // Every stored artifact, seeded or uploaded under load, reads back with its SHA-256.
  const items: { storageKey: string; sha256: string; size: number }[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const res = await fetch(`${service.url}/v1/artifacts?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { headers });
    if (res.status !== 200) throw new Error(`listing: ${res.status} ${await res.text()}`);
    const body = await res.json() as { items: typeof items; nextCursor?: string };
    items.push(...body.items);
    cursor = body.nextCursor;
    if (!cursor) break;
  }
  let mismatches = 0;
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      const res = await fetch(`${service!.url}/v1/artifacts/${item.storageKey}`, { headers });
      const bytes = new Uint8Array(await res.arrayBuffer());
      const hash = sha256(bytes);
      if (res.status !== 200 || hash !== item.sha256 || !(known.has(hash) || uploadedHashes.has(hash)) || bytes.length !== item.size) {
        mismatches++;
        if (mismatches <= 5) console.log(`MISMATCH ${item.storageKey}: status ${res.status}, ${bytes.length} bytes, sha256 ${hash}, recorded ${item.sha256}`);
      }
    }
  }));

  const errors = result.errors + result.timeouts + result.non2xx;
  const uploaded = items.length - seeded.length;
  console.log(`server load: ${CONNECTIONS} connections for ${result.duration.toFixed(1)} s, half uploads (1-200 KiB, every body unique: ${uploadedHashes.size} distinct), half downloads (1 KiB-1 MiB)`);
  console.log(`RESULT server load requests: ${result.requests.total} (${uploaded} artifacts stored under load)`);
  console.log(`RESULT server load req/s: ${(result.requests.total / result.duration).toFixed(1)}`);
  console.log(`RESULT server load latency: p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
  console.log(`RESULT server load errors: ${errors} (errors ${result.errors}, timeouts ${result.timeouts}, non-2xx ${result.non2xx}) ${errors === 0 ? 'PASS' : 'FAIL'}`);
  console.log(`RESULT server load read-back: ${items.length - mismatches}/${items.length} artifacts match their SHA-256 ${mismatches === 0 && items.length > seeded.length ? 'PASS' : 'FAIL'}`);
  const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
  console.log(`service process flags: ${process.env.BENCH_SERVER_NODE_ARGS ?? NODE_ARGS.join(' ')} (BENCH_SERVER_NODE_ARGS="" runs it with Node's defaults)`);
  console.log(`server process memory, largest samples (every 250 ms): rss ${mb(peaks.rss)} MB, V8 heap used ${mb(peaks.heapUsed)} of ${mb(peaks.heapTotal)} MB, external ${mb(peaks.external)} MB (ArrayBuffers ${mb(peaks.arrayBuffers)} MB)`);
  reportLimit('server load peak RSS of the server process (its VmHWM)', rssMb, 'MB', RSS_LIMIT_MB);
  if (errors !== 0 || mismatches !== 0 || items.length <= seeded.length) process.exitCode = 1;
} finally {
  await service?.stop();
  await rm(root, { recursive: true, force: true });
}
