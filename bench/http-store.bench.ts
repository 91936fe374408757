/**
 * Concurrent small stores over HTTP: 16 clients POST 64 KiB raw bodies (`POST /v1/artifacts`,
 * Bearer token, each request a new artifact id) to the service, against a bare node:http server
 * that streams each body through SHA-256 into a temp file and renames it into place. Target:
 * >= 0.6 of the bare server's stores/s, medians of the rounds, the two sides alternating (A B, B A, ...).
 *
 * The load generator is `wrk` with a Lua script (apt-get install -y wrk). The service runs in a
 * child process with its default logging (info, one line per request) written to a file, on local
 * disk and the SQLite catalog, as `boards-storage serve` would; the bare server in a child of its own.
 * Everything listens on 127.0.0.1 only. Each side's CPU time per store (all its threads, from
 * /proc) is printed too: steadier than stores/s on a busy machine.
 *
 *   node bench/http-store.bench.ts   (BENCH_STORE_ROUNDS=3, BENCH_STORE_SECONDS=8, BENCH_STORE_CONNECTIONS=16)
 * BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the service (see server.bench.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { forkServer, serveToParent, stopServer } from './bare-child.ts';
import { median, reportRatio } from './report.ts';
import { startService } from './server.bench.ts';
import type { ServiceChild } from './server.bench.ts';
import { checked, cpuOf, hasWrk, wrk, WRK_DONE } from './wrk.ts';
import type { WrkResult } from './wrk.ts';

const ROUNDS = Number(process.env.BENCH_STORE_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_STORE_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_STORE_CONNECTIONS ?? 16);
const THREADS = 2;
const SIZE = 64 * 1024;
const TARGET = 0.6;

/**
 * The Lua script wrk runs: POSTs of one 64 KiB body of random bytes (made once per thread), each
 * to `path` with a fresh artifact id (the run's prefix, the thread and a counter).
 */
const WRK_SCRIPT = `local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
init = function(args)
  prefix = args[1]
  path = args[2]
  counter = 0
  math.randomseed(os.time() + thread_id)
  local bytes = {}
  for i = 1, ${SIZE} do bytes[i] = string.char(math.random(0, 255)) end
  wrk.method = "POST"
  wrk.body = table.concat(bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end
request = function()
  counter = counter + 1
  return wrk.format(nil, path .. prefix .. "_" .. thread_id .. "_" .. counter)
end
${WRK_DONE}`;

/** The baseline: each POST body streamed through SHA-256 into a temp file, renamed into place; 201 with the digest. */
function bareChild(dir: string): void {
  let next = 0;
  const server = createServer((req, res) => {
    const name = `${process.pid}-${next++}`;
    const temp = join(dir, `${name}.tmp`);
    const hash = createHash('sha256');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    pipeline(req, hashing, createWriteStream(temp, { mode: 0o600 }))
      .then(() => rename(temp, join(dir, name)))
      .then(() => {
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ name, size, sha256: hash.digest('hex') }));
      }, (error: Error) => {
        res.writeHead(500).end(error.message);
      });
  });
  serveToParent(server);
}

if (process.argv[2] === '--bare') {
  bareChild(process.argv[3]!);
} else if (!hasWrk) {
  console.log('\n*** SKIP HTTP store benchmark: `wrk` is not on PATH; install with: apt-get install -y wrk ***\n');
} else {
  const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'boards-bench-http-store-'));
  const bareDir = join(root, 'bare');
  let service: ServiceChild | undefined;
  let bare: ChildProcess | undefined;
  try {
    service = await startService(root, { logFile: join(root, 'service.log') });
    const bearer = await service.bearer('bench');
    await mkdir(bareDir);
    const forked = await forkServer(import.meta.filename, ['--bare', bareDir]);
    bare = forked.child;
    const bareUrl = forked.url;
    const script = join(root, 'store.lua');
    await writeFile(script, WRK_SCRIPT);

    const runs = { service: [] as WrkResult[], bare: [] as WrkResult[] };
    const cpuPerStore = { service: [] as number[], bare: [] as number[] };
    let run = 0;
    const load = (seconds: number) => ({ threads: THREADS, connections: CONNECTIONS, seconds, script });
    const measured = async (side: keyof typeof runs, pid: number, go: () => Promise<WrkResult>) => {
      const before = await cpuOf([pid]);
      const r = checked(side, await go());
      const after = await cpuOf([pid]);
      if (before !== undefined && after !== undefined) cpuPerStore[side].push((after - before) / r.requests);
      return r;
    };
    // Each run's artifact ids start with its own prefix. All go to one board: as the key layout has it, each
    // artifact is a folder of its own under the board's (a mkdir per store, which the bare server does not do).
    const viaService = (seconds: number) => measured('service', service!.pid, () => wrk(service!.url, { ...load(seconds), headers: { authorization: bearer }, args: [`r${run++}`, '/v1/artifacts?artifactType=model&boardId=board&artifactId=a'] }));
    const viaBare = (seconds: number) => measured('bare', bare!.pid!, () => wrk(bareUrl, { ...load(seconds), args: [`r${run++}`, '/store?id='] }));
    // Warm-up, unmeasured: code optimised, the catalog and the folders made.
    await viaService(2);
    await viaBare(2);
    for (const list of Object.values(cpuPerStore)) list.length = 0;
    let stored = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const service_ = async () => { const r = await viaService(SECONDS); runs.service.push(r); stored += r.requests; };
      const bare_ = async () => { runs.bare.push(await viaBare(SECONDS)); };
      if (round % 2 === 0) { await service_(); await bare_(); } else { await bare_(); await service_(); }
      const s = runs.service.at(-1)!;
      const b = runs.bare.at(-1)!;
      console.log(`64 KiB POST round ${round + 1}/${ROUNDS}: service ${s.perSecond.toFixed(0)} stores/s (p50 ${s.p50Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms), bare Node ${b.perSecond.toFixed(0)} stores/s (p50 ${b.p50Ms.toFixed(1)} ms, p99 ${b.p99Ms.toFixed(1)} ms)`);
      // The baseline's files go between rounds, so it never meets a bigger folder than the service does.
      // A store still in flight when wrk stopped may add a file meanwhile (ENOTEMPTY): rm tries again.
      await rm(bareDir, { recursive: true, force: true, maxRetries: 5 });
      await mkdir(bareDir);
    }
    // Every 201 the service answered is a recorded artifact (the warm-up's included).
    const stats = await fetch(`${service.url}/v1/stats`, { headers: { authorization: bearer } }).then((r) => r.json()) as { total: { count: number; bytes: number } };
    if (stats.total.count < stored || stats.total.bytes !== stats.total.count * SIZE) throw new Error(`the catalog holds ${stats.total.count} artifacts (${stats.total.bytes} bytes) after ${stored} measured stores of ${SIZE} bytes`);
    console.log(`wrk, ${THREADS} threads, ${CONNECTIONS} connections, ${SECONDS} s per side and round; ${stats.total.count} artifacts recorded`);
    if (cpuPerStore.service.length && cpuPerStore.bare.length) {
      const us = (side: keyof typeof cpuPerStore) => median(cpuPerStore[side]) * 1e6;
      console.log(`CPU per store (medians): service ${us('service').toFixed(0)} µs, bare Node ${us('bare').toFixed(0)} µs; service / bare ${(us('service') / us('bare')).toFixed(1)}x`);
    }
    reportRatio(`server 64 KiB stores, ${CONNECTIONS} clients, wrk (Bearer, request log on, vs bare node:http + SHA-256 + temp file + rename)`, median(runs.service.map((r) => r.perSecond)), median(runs.bare.map((r) => r.perSecond)), 'stores/s', TARGET);
  } finally {
    await stopServer(bare);
    await service?.stop();
    await rm(root, { recursive: true, force: true });
  }
}
