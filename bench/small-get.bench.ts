/**
 * Small GETs: authenticated 64 KiB GETs through `GET /v1/artifacts/{key}` (16 artifacts, rotating)
 * on 64 keep-alive connections, against nginx serving the same files with its access log on.
 * Target: >= 0.7 of nginx's req/s, medians of the rounds, the two sides alternating (A B, B A, ...).
 *
 * The load generator is `wrk` (apt-get install -y wrk): a Node client tops out near the service's
 * own rate and would make nginx look as slow as the service. The service runs in a child process
 * with its default logging (level info, one line per request) written to a file, as nginx writes
 * its access log; nginx runs one worker. Everything listens on 127.0.0.1 only.
 *
 *   node bench/small-get.bench.ts   (BENCH_SMALL_ROUNDS=3, BENCH_SMALL_SECONDS=10, BENCH_SMALL_THREADS=2)
 * BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the service (see server.bench.ts).
 * For reference (no target), a bare node:http server in the same rounds: the same 16 files from
 * memory, each request's HS256 signature checked with one HMAC, no log: what Node itself reaches.
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, reportRatio } from './report.ts';
import { startNginx, startService } from './server.bench.ts';
import type { Nginx, ServiceChild } from './server.bench.ts';

const ROUNDS = Number(process.env.BENCH_SMALL_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SMALL_SECONDS ?? 10);
const THREADS = Number(process.env.BENCH_SMALL_THREADS ?? 2);
const CONNECTIONS = 64;
const SIZE = 64 * 1024;
const TARGET = 0.7;

interface WrkResult { requests: number; bytes: number; seconds: number; errors: number; perSecond: number; p50Ms: number; p99Ms: number }

/**
 * The Lua script wrk runs: each request takes the next path, and at the end one JSON line with
 * the totals (wrk's `done` callback), parsed instead of wrk's human summary.
 */
function wrkScript(paths: string[]): string {
  return `local paths = { ${paths.map((p) => JSON.stringify(p)).join(', ')} }
local counter = 0
request = function()
  counter = counter % #paths + 1
  return wrk.format(nil, paths[counter])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%d,"bytes":%d,"duration":%d,"errors":%d,"p50":%d,"p99":%d}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;
}

async function wrk(base: string, script: string, headers: Record<string, string>, seconds: number): Promise<WrkResult> {
  const args = ['-t', String(THREADS), '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--timeout', '10s', '-s', script,
    ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]), base];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const line = /WRK_JSON (\{.*\})/.exec(out);
  if (code !== 0 || !line) throw new Error(`wrk exited ${code}: ${out}`);
  const r = JSON.parse(line[1]!) as { requests: number; bytes: number; duration: number; errors: number; p50: number; p99: number };
  return { requests: r.requests, bytes: r.bytes, seconds: r.duration / 1e6, errors: r.errors, perSecond: r.requests / (r.duration / 1e6), p50Ms: r.p50 / 1000, p99Ms: r.p99 / 1000 };
}

/** A run counts only when every response was a 2xx carrying the whole body (bytes read include the headers). */
function checked(name: string, r: WrkResult): WrkResult {
  if (r.errors) throw new Error(`${name}: ${r.errors} failed requests (non-2xx, socket errors or timeouts) of ${r.requests}`);
  if (r.requests === 0 || r.bytes < r.requests * SIZE) throw new Error(`${name}: ${r.bytes} bytes for ${r.requests} responses of ${SIZE} bytes`);
  return r;
}

/** The reference server: `files` (url path -> file) served from memory after an HMAC check of the bearer token against `secret`. */
async function bareChild(secret: string, files: Record<string, string>): Promise<void> {
  const bodies = new Map<string, Buffer>();
  for (const [path, file] of Object.entries(files)) bodies.set(path, await readFile(file));
  const key = Buffer.from(secret);
  const server = createServer((req, res) => {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]?.split('.');
    const body = bodies.get(req.url ?? '');
    if (token?.length !== 3 || !body) return void res.writeHead(404).end();
    const mac = createHmac('sha256', key).update(`${token[0]}.${token[1]}`).digest();
    const given = Buffer.from(token[2]!, 'base64url');
    if (given.length !== mac.length || !timingSafeEqual(given, mac)) return void res.writeHead(401).end();
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) }).end(body);
  });
  server.listen({ host: '127.0.0.1', port: 0 }, () => {
    const address = server.address();
    process.send!({ url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` });
  });
  process.on('message', (m) => {
    if (m === 'stop') server.close(() => process.disconnect());
  });
}

/** CPU seconds of these processes (user + system, all threads), from /proc; undefined off Linux. */
async function cpuOf(pids: number[]): Promise<number | undefined> {
  let total = 0;
  for (const pid of pids) {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined))?.split(') ')[1]?.split(' ');
    if (!fields) return undefined;
    total += (Number(fields[11]) + Number(fields[12])) / 100;
  }
  return total;
}

/** nginx's worker processes: the children of the master named in its pid file. */
async function nginxWorkers(root: string): Promise<number[]> {
  const master = (await readFile(join(root, 'nginx', 'nginx.pid'), 'utf8').catch(() => '')).trim();
  const children = await readFile(`/proc/${master}/task/${master}/children`, 'utf8').catch(() => '');
  return children.trim().split(/\s+/).filter(Boolean).map(Number);
}

const hasWrk = spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
const hasNginx = spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0;
if (process.argv[2] === '--bare') {
  await bareChild(process.argv[3]!, JSON.parse(process.argv[4]!) as Record<string, string>);
} else if (!hasWrk || !hasNginx) {
  console.log(`\n*** SKIP small-GET benchmark: ${!hasWrk ? '`wrk`' : '`nginx`'} is not on PATH; install with: apt-get install -y wrk nginx-light ***\n`);
} else {
  const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'boards-bench-small-get-'));
  // nginx's worker must be able to read the same files.
  await chmod(root, 0o755);
  const serviceLog = join(root, 'service.log');
  const nginxLog = join(root, 'nginx-access.log');
  let service: ServiceChild | undefined;
  let nginx: Nginx | undefined;
  let bare: ChildProcess | undefined;
  try {
    service = await startService(root, { logFile: serviceLog });
    const bearer = await service.bearer('bench');
    const keys: string[] = [];
    for (let i = 0; i < 16; i++) {
      const res = await fetch(`${service.url}/v1/artifacts?artifactType=model&artifactId=small${i}`, {
        method: 'POST', headers: { authorization: bearer, 'content-type': 'application/octet-stream' }, body: randomBytes(SIZE),
      });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`store: ${res.status} ${text}`);
      keys.push((JSON.parse(text) as { storageKey: string }).storageKey);
    }
    nginx = await startNginx(root, service.filesDir, { accessLog: nginxLog });
    bare = fork(import.meta.filename, ['--bare', service.jwtSecret, JSON.stringify(Object.fromEntries(keys.map((k) => [`/${k}`, join(service!.filesDir, k)])))], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const bareUrl = await new Promise<string>((resolve, reject) => {
      bare!.once('message', (m) => resolve((m as { url: string }).url));
      bare!.once('exit', (code) => reject(new Error(`the bare server exited (${code})`)));
    });
    const serviceScript = join(root, 'service.lua');
    const nginxScript = join(root, 'nginx.lua');
    await writeFile(serviceScript, wrkScript(keys.map((k) => `/v1/artifacts/${k}`)));
    await writeFile(nginxScript, wrkScript(keys.map((k) => `/${k}`)));

    const runs = { service: [] as WrkResult[], nginx: [] as WrkResult[], bare: [] as WrkResult[] };
    // Each server's CPU time per request (all its threads or workers): steadier than req/s on a busy machine.
    const cpuPerRequest = { service: [] as number[], nginx: [] as number[], bare: [] as number[] };
    const workers = await nginxWorkers(root);
    const measured = async (side: keyof typeof cpuPerRequest, pids: number[], run: () => Promise<WrkResult>) => {
      const before = await cpuOf(pids);
      const r = checked(side, await run());
      const after = await cpuOf(pids);
      if (before !== undefined && after !== undefined) cpuPerRequest[side].push((after - before) / r.requests);
      return r;
    };
    const viaService = (seconds: number) => measured('service', [service!.pid], () => wrk(service!.url, serviceScript, { authorization: bearer }, seconds));
    const viaNginx = (seconds: number) => measured('nginx', workers, () => wrk(nginx!.url, nginxScript, {}, seconds));
    const viaBare = (seconds: number) => measured('bare', [bare!.pid!], () => wrk(bareUrl, nginxScript, { authorization: bearer }, seconds));
    // Warm-up, unmeasured: the files in the page cache (and the service's content cache), code optimised.
    await viaService(2);
    await viaNginx(2);
    await viaBare(2);
    for (const list of Object.values(cpuPerRequest)) list.length = 0;
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) { runs.service.push(await viaService(SECONDS)); runs.nginx.push(await viaNginx(SECONDS)); } else { runs.nginx.push(await viaNginx(SECONDS)); runs.service.push(await viaService(SECONDS)); }
      runs.bare.push(await viaBare(SECONDS));
      const s = runs.service.at(-1)!;
      const n = runs.nginx.at(-1)!;
      console.log(`64 KiB GET round ${round + 1}/${ROUNDS}: service ${s.perSecond.toFixed(0)} req/s (p50 ${s.p50Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms), nginx ${n.perSecond.toFixed(0)} req/s (p50 ${n.p50Ms.toFixed(1)} ms, p99 ${n.p99Ms.toFixed(1)} ms); reference bare Node ${runs.bare.at(-1)!.perSecond.toFixed(0)} req/s`);
    }
    const logged = { service: (await stat(serviceLog)).size, nginx: (await stat(nginxLog)).size };
    console.log(`wrk, ${THREADS} thread(s), ${CONNECTIONS} connections, ${SECONDS} s per side and round; logs written: service ${(logged.service / 1e6).toFixed(1)} MB, nginx access log ${(logged.nginx / 1e6).toFixed(1)} MB`);
    if (cpuPerRequest.service.length && cpuPerRequest.nginx.length) {
      const us = (side: keyof typeof cpuPerRequest) => median(cpuPerRequest[side]) * 1e6;
      console.log(`CPU per GET (medians): service ${us('service').toFixed(0)} µs, nginx ${us('nginx').toFixed(0)} µs, bare Node ${us('bare').toFixed(0)} µs; service / nginx ${(us('service') / us('nginx')).toFixed(1)}x`);
    }
    const bareMedian = median(runs.bare.map((r) => r.perSecond));
    console.log(`(reference, no target: a bare node:http server, the same files from memory, one HMAC per request, no log: median ${bareMedian.toFixed(0)} req/s, ${(bareMedian / median(runs.nginx.map((r) => r.perSecond))).toFixed(2)} of nginx)`);
    reportRatio('server 64 KiB GETs, 64 connections, wrk (Bearer, request log on, vs nginx with access log)', median(runs.service.map((r) => r.perSecond)), median(runs.nginx.map((r) => r.perSecond)), 'req/s', TARGET);
  } finally {
    if (bare?.connected) {
      const exited = new Promise((r) => bare!.once('exit', r));
      bare.send('stop');
      await exited;
    }
    await nginx?.stop();
    await service?.stop();
    await rm(root, { recursive: true, force: true });
  }
}
