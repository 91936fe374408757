/**
 * Small GETs, two figures in one run, each against its baseline in the same rounds (the sides
 * alternating A B, B A, ...; medians of the rounds):
 * 1. Authenticated 64 KiB GETs through `GET /v1/artifacts/{key}` (16 artifacts, rotating) on 64
 *    keep-alive connections, the service with BENCH_SMALL_WORKERS processes (`serve --workers N`,
 *    default 2, the cores of the reference machine) against nginx with as many worker_processes
 *    serving the same files with its access log on. Target: >= 0.7 of nginx's req/s.
 * 2. Issue 13: a cached variant (`?variant=thumb_256` of 16 PNGs, each made once before) against
 *    the same bytes stored as plain artifacts, through the same service. Target: >= 0.9.
 *
 * The load generator is `wrk` (apt-get install -y wrk): a Node client tops out near the service's
 * own rate and would make nginx look as slow as the service. The service runs in a child process
 * with its default logging (level info, one line per request) written to a file, as nginx writes
 * its access log. Everything listens on 127.0.0.1 only.
 *
 *   node bench/small-get.bench.ts   (BENCH_SMALL_ROUNDS=3, BENCH_SMALL_SECONDS=10, BENCH_SMALL_THREADS=2, BENCH_SMALL_WORKERS=2)
 * BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the service (see server.bench.ts).
 * For reference (no target), in the same rounds: the service as one process, and a bare node:http
 * server (one process) with the same 16 files from memory, each request's HS256 signature checked
 * with one HMAC, no log: what one Node process itself reaches.
 */
import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { forkServer, serveToParent, stopServer } from './bare-child.ts';
import { median, reportRatio } from './report.ts';
import { startNginx, startService } from './server.bench.ts';
import type { Nginx, ServiceChild } from './server.bench.ts';
import { checked, cpuOf, hasWrk, withChildren, wrk, WRK_DONE } from './wrk.ts';
import type { WrkResult } from './wrk.ts';

const ROUNDS = Number(process.env.BENCH_SMALL_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SMALL_SECONDS ?? 10);
const THREADS = Number(process.env.BENCH_SMALL_THREADS ?? 2);
const WORKERS = Number(process.env.BENCH_SMALL_WORKERS ?? 2);
const CONNECTIONS = 64;
const SIZE = 64 * 1024;
const TARGET = 0.7;
const VARIANT_TARGET = 0.9;
/** The preset the variant figure serves; made on the first request for each image. */
const VARIANT_CONFIG = ['  media:', '    background_variants: false', '  variants:', '    image: [{ name: thumb_256, width: 256, format: webp }]'];

/** The Lua script wrk runs: each request takes the next path. */
function wrkScript(paths: string[]): string {
  return `local paths = { ${paths.map((p) => JSON.stringify(p)).join(', ')} }
local counter = 0
request = function()
  counter = counter % #paths + 1
  return wrk.format(nil, paths[counter])
end
${WRK_DONE}`;
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
  serveToParent(server);
}

/** nginx's worker processes: the children of the master named in its pid file. */
async function nginxWorkers(root: string): Promise<number[]> {
  const master = Number((await readFile(join(root, 'nginx', 'nginx.pid'), 'utf8').catch(() => '')).trim());
  return (await withChildren(master)).slice(1);
}

/** 16 artifacts of 64 KiB of random bytes stored through the service; their keys. */
async function storeSmall(service: ServiceChild): Promise<string[]> {
  const bearer = await service.bearer('bench');
  const keys: string[] = [];
  for (let i = 0; i < 16; i++) keys.push(await store(service, bearer, `artifactType=model&artifactId=small${i}`, 'application/octet-stream', randomBytes(SIZE)));
  return keys;
}

async function store(service: ServiceChild, bearer: string, query: string, contentType: string, body: Buffer): Promise<string> {
  const res = await fetch(`${service.url}/v1/artifacts?${query}`, { method: 'POST', headers: { authorization: bearer, 'content-type': contentType }, body });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`store: ${res.status} ${text}`);
  return (JSON.parse(text) as { storageKey: string }).storageKey;
}

/**
 * Issue 13's pair: 16 PNGs (320 px of grain), each one's thumb_256 made
 * by one GET, and the same thumbnail bytes stored again as plain artifacts. Returns the paths wrk
 * rotates through on each side and the smallest thumbnail's size.
 */
async function variantPair(service: ServiceChild): Promise<{ variantPaths: string[]; plainPaths: string[]; minSize: number; sizes: number[] }> {
  const bearer = await service.bearer('bench');
  const variantPaths: string[] = [];
  const plainPaths: string[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < 16; i++) {
    // Grain that survives the resize: thumbnails of 256 px WebP in the tens of KB, as photographic ones are.
    const png = await sharp({ create: { width: 320, height: 320, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 30 + 2 * i } } }).png().toBuffer();
    const key = await store(service, bearer, `artifactType=image&artifactId=picture${i}`, 'image/png', png);
    const variantPath = `/v1/artifacts/${key}?variant=thumb_256`;
    const made = await fetch(`${service.url}${variantPath}`, { headers: { authorization: bearer } });
    if (made.status !== 200) throw new Error(`variant: ${made.status} ${await made.text()}`);
    const thumb = Buffer.from(await made.arrayBuffer());
    sizes.push(thumb.length);
    variantPaths.push(variantPath);
    plainPaths.push(`/v1/artifacts/${await store(service, bearer, `artifactType=image&artifactId=plain${i}`, 'image/webp', thumb)}`);
  }
  return { variantPaths, plainPaths, minSize: Math.min(...sizes), sizes };
}

const hasNginx = spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0;
if (process.argv[2] === '--bare') {
  await bareChild(process.argv[3]!, JSON.parse(process.argv[4]!) as Record<string, string>);
} else if (!hasWrk || !hasNginx) {
  console.log(`\n*** SKIP small-GET benchmark: ${!hasWrk ? '`wrk`' : '`nginx`'} is not on PATH; install with: apt-get install -y wrk nginx-light ***\n`);
} else {
  const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'boards-bench-small-get-'));
  // nginx's workers must be able to read the same files.
  await chmod(root, 0o755);
  const logs = { service: join(root, 'service.log'), single: join(root, 'service-single.log'), nginx: join(root, 'nginx-access.log') };
  let service: ServiceChild | undefined;
  let single: ServiceChild | undefined;
  let nginx: Nginx | undefined;
  let bare: ChildProcess | undefined;
  try {
    await mkdir(join(root, 'workers'));
    await mkdir(join(root, 'single'));
    service = await startService(join(root, 'workers'), { logFile: logs.service, workers: WORKERS, config: VARIANT_CONFIG });
    single = await startService(join(root, 'single'), { logFile: logs.single });
    const bearer = await service.bearer('bench');
    const singleBearer = await single.bearer('bench');
    const keys = await storeSmall(service);
    const singleKeys = await storeSmall(single);
    nginx = await startNginx(root, service.filesDir, { accessLog: logs.nginx, workers: WORKERS });
    const forked = await forkServer(import.meta.filename, ['--bare', service.jwtSecret, JSON.stringify(Object.fromEntries(keys.map((k) => [`/${k}`, join(service!.filesDir, k)])))]);
    bare = forked.child;
    const bareUrl = forked.url;
    const pair = await variantPair(service);
    const scripts = { service: join(root, 'service.lua'), single: join(root, 'single.lua'), nginx: join(root, 'nginx.lua'), variant: join(root, 'variant.lua'), plain: join(root, 'plain.lua') };
    await writeFile(scripts.service, wrkScript(keys.map((k) => `/v1/artifacts/${k}`)));
    await writeFile(scripts.single, wrkScript(singleKeys.map((k) => `/v1/artifacts/${k}`)));
    await writeFile(scripts.nginx, wrkScript(keys.map((k) => `/${k}`)));
    await writeFile(scripts.variant, wrkScript(pair.variantPaths));
    await writeFile(scripts.plain, wrkScript(pair.plainPaths));

    type Side = 'service' | 'nginx' | 'single' | 'bare' | 'variant' | 'plain';
    const runs: Record<Side, WrkResult[]> = { service: [], nginx: [], single: [], bare: [], variant: [], plain: [] };
    // Each server's CPU time per request (all its processes and threads): steadier than req/s on a busy machine.
    const cpuPerRequest: Record<Side, number[]> = { service: [], nginx: [], single: [], bare: [], variant: [], plain: [] };
    const servicePids = () => withChildren(service!.pid);
    const workers = await nginxWorkers(root);
    const measured = async (side: Side, pids: number[], url: string, headers: Record<string, string>, size: number, seconds: number) => {
      const before = await cpuOf(pids);
      const r = checked(side, await wrk(url, { threads: THREADS, connections: CONNECTIONS, seconds, script: scripts[side === 'bare' ? 'nginx' : side], headers }), size);
      const after = await cpuOf(pids);
      if (before !== undefined && after !== undefined) cpuPerRequest[side].push((after - before) / r.requests);
      return r;
    };
    const auth = { authorization: bearer };
    const run: Record<Side, (seconds: number) => Promise<WrkResult>> = {
      service: async (seconds) => measured('service', await servicePids(), service!.url, auth, SIZE, seconds),
      nginx: (seconds) => measured('nginx', workers, nginx!.url, {}, SIZE, seconds),
      single: (seconds) => measured('single', [single!.pid], single!.url, { authorization: singleBearer }, SIZE, seconds),
      bare: (seconds) => measured('bare', [bare!.pid!], bareUrl, auth, SIZE, seconds),
      // (the bare server answers the nginx paths)
      variant: async (seconds) => measured('variant', await servicePids(), service!.url, auth, pair.minSize, seconds),
      plain: async (seconds) => measured('plain', await servicePids(), service!.url, auth, pair.minSize, seconds),
    };
    // Warm-up, unmeasured: the files in the page cache (and the services' content caches), code optimised in every worker.
    for (const side of Object.keys(run) as Side[]) await run[side](3);
    for (const list of Object.values(cpuPerRequest)) list.length = 0;
    const pairs: [Side, Side][] = [['service', 'nginx'], ['variant', 'plain']];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [a, b] of pairs) {
        const [first, second] = round % 2 === 0 ? [a, b] : [b, a];
        runs[first].push(await run[first](SECONDS));
        runs[second].push(await run[second](SECONDS));
      }
      runs.single.push(await run.single(SECONDS));
      runs.bare.push(await run.bare(SECONDS));
      const last = (side: Side) => runs[side].at(-1)!;
      const line = (side: Side) => `${last(side).perSecond.toFixed(0)} req/s (p50 ${last(side).p50Ms.toFixed(1)} ms, p99 ${last(side).p99Ms.toFixed(1)} ms)`;
      console.log(`round ${round + 1}/${ROUNDS}: 64 KiB GETs: service, ${WORKERS} workers ${line('service')}; nginx, ${WORKERS} workers ${line('nginx')}; service, 1 process ${line('single')}; bare Node, 1 process ${last('bare').perSecond.toFixed(0)} req/s. Variant ${line('variant')}, plain artifact ${line('plain')}`);
    }
    const size = async (file: string) => ((await stat(file)).size / 1e6).toFixed(1);
    console.log(`wrk, ${THREADS} thread(s), ${CONNECTIONS} connections, ${SECONDS} s per side and round; logs written: service ${await size(logs.service)} MB, service as 1 process ${await size(logs.single)} MB, nginx access log ${await size(logs.nginx)} MB; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const us = (side: Side) => median(cpuPerRequest[side]) * 1e6;
    if (cpuPerRequest.service.length && cpuPerRequest.nginx.length) {
      console.log(`CPU per 64 KiB GET (medians, all processes of each): service ${us('service').toFixed(0)} µs, nginx ${us('nginx').toFixed(0)} µs, service as 1 process ${us('single').toFixed(0)} µs, bare Node ${us('bare').toFixed(0)} µs; service / nginx ${(us('service') / us('nginx')).toFixed(1)}x`);
      console.log(`CPU per GET of a ${pair.minSize}-${Math.max(...pair.sizes)} byte thumbnail (medians): variant ${us('variant').toFixed(0)} µs, plain artifact ${us('plain').toFixed(0)} µs`);
    }
    const rate = (side: Side) => median(runs[side].map((r) => r.perSecond));
    console.log(`(reference, no target: the service as 1 process: median ${rate('single').toFixed(0)} req/s, ${(rate('single') / rate('nginx')).toFixed(2)} of nginx with ${WORKERS} workers; a bare node:http server, 1 process, the same files from memory, one HMAC per request, no log: median ${rate('bare').toFixed(0)} req/s, ${(rate('bare') / rate('nginx')).toFixed(2)} of nginx)`);
    reportRatio(`server 64 KiB GETs, 64 connections, wrk (Bearer, request log on, ${WORKERS} worker processes vs nginx worker_processes ${WORKERS} with access log)`, rate('service'), rate('nginx'), 'req/s', TARGET);
    reportRatio(`cached thumb_256 variant (${pair.minSize}-${Math.max(...pair.sizes)} bytes) vs the same bytes as plain artifacts, 64 connections, wrk, ${WORKERS} worker processes`, rate('variant'), rate('plain'), 'req/s', VARIANT_TARGET);
  } catch (error) {
    // What the service said about the failed requests, before its log goes with the run's folder.
    for (const log of [logs.service, logs.single]) {
      const failed = (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => /"statusCode":[^2]|"level":[45]0/.test(l));
      if (failed.length) console.error(`${failed.length} failed requests or errors in ${log === logs.service ? 'the service' : 'the 1-process service'}'s log; the last:\n${failed.slice(-3).join('\n')}`);
    }
    throw error;
  } finally {
    await stopServer(bare);
    await nginx?.stop();
    await service?.stop();
    await single?.stop();
    await rm(root, { recursive: true, force: true });
  }
}
