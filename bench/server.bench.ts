/**
 * The HTTP service against nginx and a bare Node server, each baseline measured in the same run,
 * the two sides alternating (A B, B A, ...), medians of the rounds:
 *   - GET of one 1 GiB artifact vs nginx (sendfile) serving the same file: >= 0.9 of its MiB/s
 *   - POST of 1 GiB vs a bare `http` server streaming the body to disk through SHA-256: >= 0.8
 * The service runs in a child process (as `boards-storage serve` would), nginx with one worker, the
 * bare server in a child too; the clients run here. Everything listens on 127.0.0.1 only.
 * Without `nginx` on PATH the nginx comparisons are skipped (install: apt-get install -y nginx-light).
 *
 *   node bench/server.bench.ts     (BENCH_SERVER_ROUNDS=3, BENCH_SERVER_BIG_MIB=1024)
 * The service's GETs are verified reads (every byte hashed and checked against the recorded
 * SHA-256, the default); BENCH_SERVER_VERIFY_READS=false measures them unchecked, for comparison.
 * BENCH_SERVER_PARTS=upload,download runs only some parts (default all). Small GETs are measured
 * with wrk in small-get.bench.ts.
 *
 * Also imported by server-load.bench.ts for startService().
 */
import { execFile, fork, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { mintToken } from '../src/server/auth.ts';
import { serveToParent } from './bare-child.ts';
import { median, MiB, reportRatio } from './report.ts';
import { freePort } from '../src/server/start.ts';

// ---------------------------------------------------------------------------------------------
// The service in a child process.

export interface ServiceChild {
  url: string;
  pid: number;
  /** The local provider's base directory: objects live at `{filesDir}/{storageKey}`. */
  filesDir: string;
  /** The HS256 secret the service verifies tokens with. */
  jwtSecret: string;
  /** `Authorization` header value for a tenant's user. */
  bearer(tenant: string): Promise<string>;
  /** Peak resident set of the server process so far, in MB (10^6 bytes): its /proc VmHWM (the kernel's count), else its own getrusage. */
  peakRssMb(): Promise<number>;
  /** The server process's memory now, as it sees it (process.memoryUsage(), bytes). */
  memoryUsage(): Promise<NodeJS.MemoryUsage>;
  stop(): Promise<void>;
}

/**
 * Start `startServer()` (what `boards-storage serve` runs) in a child on 127.0.0.1, port 0, with
 * local disk + SQLite under `root`. `workers`: that many processes (as `serve --workers N`), the
 * child being their primary; `config`: more YAML lines under `storage:` (two spaces indented).
 */
export async function startService(root: string, options: { maxFileSize?: string; verifyReads?: boolean; logFile?: string; workers?: number; config?: string[] ; nodeArgs?: string[] } = {}): Promise<ServiceChild> {
  const filesDir = join(root, 'files');
  const secret = randomBytes(32).toString('hex');
  const configPath = join(root, 'storage.yaml');
  await writeFile(configPath, [
    'storage:',
    `  data_dir: ${JSON.stringify(join(root, 'state'))}`,
    `  max_file_size: ${options.maxFileSize ?? '2GB'}`,
    '  providers:',
    '    local:',
    '      type: local',
    '      config:',
    `        base_path: ${JSON.stringify(filesDir)}`,
    `      verify_reads: ${options.verifyReads ?? true}`,
    '  server:',
    // With a log file the service logs as it does by default (info: every request); else warnings only.
    `    log_level: ${options.logFile ? 'info' : 'warn'}`,
    // One tenant drives the whole load: its share of uploads in progress must not be what is measured.
    '    max_concurrent_uploads_per_tenant: 256',
    '  auth:',
    `    jwt_secret: ${secret}`,
    ...(options.config ?? []),
    '',
  ].join('\n'));
  // BENCH_SERVER_NODE_ARGS: extra Node flags for the service process (e.g. --cpu-prof --cpu-prof-dir=DIR).
  // options.nodeArgs: flags a bench runs the service with (as its README recommends); the variable replaces them.
  const execArgv = process.env.BENCH_SERVER_NODE_ARGS === undefined ? options.nodeArgs ?? [] : process.env.BENCH_SERVER_NODE_ARGS.split(' ').filter(Boolean);
  const logFd = options.logFile ? openSync(options.logFile, 'a') : undefined;
  const child = fork(import.meta.filename, ['--serve', configPath, logFd === undefined ? '--no-log' : '--log', String(options.workers ?? 1)], { stdio: ['ignore', logFd ?? 'inherit', 'inherit', 'ipc'], execArgv });
  if (logFd !== undefined) closeSync(logFd);
  const { url } = await message<{ url: string }>(child, (m) => typeof (m as { url?: unknown }).url === 'string');
  const tokens = new Map<string, string>();
  let stopped: Promise<void> | undefined;
  return {
    url, pid: child.pid!, filesDir, jwtSecret: secret,
    async bearer(tenant) {
      let token = tokens.get(tenant);
      if (!token) tokens.set(tenant, token = await mintToken(secret, { subject: `bench-${tenant}`, tenantId: tenant, expiresIn: 3600 }));
      return `Bearer ${token}`;
    },
    async peakRssMb() {
      const hwm = vmHwmKb(child.pid!);
      if (hwm !== undefined) return hwm * 1024 / 1e6;
      child.send('rss');
      return (await message<{ maxRssKb: number }>(child, (m) => typeof (m as { maxRssKb?: unknown }).maxRssKb === 'number')).maxRssKb * 1024 / 1e6;
    },
    async memoryUsage() {
      child.send('memory');
      return (await message<{ memory: NodeJS.MemoryUsage }>(child, (m) => typeof (m as { memory?: unknown }).memory === 'object')).memory;
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.send('stop');
      });
      return stopped;
    },
  };
}

/** The peak resident set of a process in KiB, as the kernel counts it (VmHWM); undefined off Linux. */
function vmHwmKb(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function message<T>(child: ChildProcess, accept: (m: unknown) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (!accept(m)) return;
      cleanup();
      resolve(m as T);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`child ${child.pid} exited (${code}) before answering`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/**
 * `log`: the service's default logger (pino, JSON lines on stdout); otherwise none. With several
 * `workers` this process is their primary (node:cluster runs this file again in each worker).
 */
async function serveChild(configPath: string, log: boolean, workers: number): Promise<void> {
  const { startServer } = await import('../src/server/start.ts');
  const { runWorkers, workerRole } = await import('../src/server/workers.ts');
  const worker = workerRole();
  if (workers > 1 && !worker) {
    const running = runWorkers({ count: workers, host: '127.0.0.1', port: 0, shutdownTimeoutMs: 10_000, log: (line) => { process.stderr.write(line + '\n'); } });
    const { url } = await running.ready;
    process.on('message', (m) => {
      if (m === 'rss') process.send!({ maxRssKb: process.resourceUsage().maxRSS });
      if (m === 'stop') {
        running.stop('SIGTERM');
        void running.stopped.finally(() => process.disconnect());
      }
    });
    process.send!({ url });
    return;
  }
  const server = await startServer({ configPath, env: {}, host: '127.0.0.1', port: 0, ...(log ? {} : { logger: false }), ...(worker ? { worker } : {}) });
  if (worker) {
    process.once('SIGTERM', () => { void server.close().finally(() => process.disconnect()); });
    return;
  }
  process.on('message', (m) => {
    if (m === 'rss') process.send!({ maxRssKb: process.resourceUsage().maxRSS });
    if (m === 'memory') process.send!({ memory: process.memoryUsage() });
    if (m === 'stop') void server.close().finally(() => process.disconnect());
  });
  process.send!({ url: server.url });
}

/**
 * The upload baseline: a bare `http` server that streams each body to a file through SHA-256. For
 * reference (no target) it also answers GET /{key} with the file under `filesDir` through
 * fs.createReadStream (1 MiB chunks, as the local provider reads), to show what plain Node streaming reaches.
 */
async function bareUploadChild(dir: string, filesDir: string): Promise<void> {
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      const path = join(filesDir, decodeURIComponent((req.url ?? '/').slice(1)));
      if (!path.startsWith(filesDir + sep) || path.includes('..')) return void res.writeHead(404).end();
      void stat(path).then((s) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(s.size) });
        return pipeline(createReadStream(path, { highWaterMark: MiB }), res);
      }).catch(() => res.headersSent ? res.destroy() : res.writeHead(404).end());
      return;
    }
    const hash = createHash('sha256');
    const target = join(dir, randomUUID());
    pipeline(req, new Transform({ transform(chunk: Buffer, _e, cb) { hash.update(chunk); cb(null, chunk); } }), createWriteStream(target))
      .then(() => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ path: target, sha256: hash.digest('hex') })))
      .catch(() => res.writeHead(500).end());
  });
  serveToParent(server);
}

// ---------------------------------------------------------------------------------------------
// nginx

export interface Nginx { url: string; stop(): Promise<void> }

/** nginx serving `servedDir` on 127.0.0.1 (sendfile), `workers` worker processes (default 1); `accessLog`: its access log (combined format) to that file, else off. */
export async function startNginx(root: string, servedDir: string, options: { accessLog?: string; workers?: number } = {}): Promise<Nginx> {
  const dir = join(root, 'nginx');
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const port = await freePort('127.0.0.1');
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, `
${process.getuid?.() === 0 ? `user ${userInfo().username};` : ''}
worker_processes ${options.workers ?? 1};
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log ${options.accessLog ?? 'off'};
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  default_type application/octet-stream;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${servedDir};
    location / { }
  }
}
`);
  const child = spawn('nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`);
    try {
      await get(`${url}/nginx.probe.missing`);
      break;
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGQUIT');
    }),
  };
}


// ---------------------------------------------------------------------------------------------
// Clients

const execFileAsync = promisify(execFile);

const agent = new Agent({ keepAlive: true, maxSockets: 8 });

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res: IncomingMessage) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => { bytes += c.length; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** `size` bytes in 1 MiB chunks cycling through a few random buffers (made once, outside the timing). */
const pool = Array.from({ length: 4 }, () => randomBytes(MiB));

function post(url: string, size: number, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, method: 'POST', headers: { ...headers, 'content-length': String(size) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    let sent = 0;
    let i = 0;
    const write = () => {
      while (sent < size) {
        const chunk = pool[i++ % pool.length]!.subarray(0, Math.min(MiB, size - sent));
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

async function seconds(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return (performance.now() - started) / 1000;
}

interface AutocannonResult {
  requests: { total: number; average: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
type AutocannonRequest = { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer | string };
export interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  timeout?: number;
  headers?: Record<string, string>;
  requests?: { setupRequest?: (req: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest; onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string>) => void }[];
}

const AUTOCANNON = 'autocannon';
/** autocannon ships no types: the part used here. */
export async function autocannon(options: AutocannonOptions): Promise<AutocannonResult> {
  const run = (await import(AUTOCANNON) as { default: (o: AutocannonOptions) => Promise<AutocannonResult> }).default;
  return run(options);
}

// ---------------------------------------------------------------------------------------------
// The benchmark

/** A process's CPU seconds (user + system) from /proc: its main thread's, and all its threads'; undefined off Linux. */
export function cpuSeconds(pid: number): { main: number; all: number } | undefined {
  const ticks = (path: string) => {
    const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  try {
    return { main: ticks(`/proc/${pid}/task/${pid}/stat`), all: ticks(`/proc/${pid}/stat`) };
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const ROUNDS = Number(process.env.BENCH_SERVER_ROUNDS ?? 3);
  const BIG = Number(process.env.BENCH_SERVER_BIG_MIB ?? 1024) * MiB;
  const VERIFY_READS = process.env.BENCH_SERVER_VERIFY_READS !== 'false';
  const PARTS = new Set((process.env.BENCH_SERVER_PARTS ?? 'upload,download').split(','));
  const hasNginx = spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0;
  if (!hasNginx) console.log('\n*** SKIP server download benchmark against nginx: `nginx` is not on PATH; install with: apt-get install -y nginx-light ***\n');

  const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'boards-bench-server-'));
  // nginx's worker must be able to read the same files.
  await chmod(root, 0o755);
  const bareDir = join(root, 'bare');
  await mkdir(bareDir);
  let service: ServiceChild | undefined;
  let nginx: Nginx | undefined;
  let bare: ChildProcess | undefined;
  try {
    service = await startService(root, { verifyReads: VERIFY_READS });
    bare = fork(import.meta.filename, ['--bare-upload', bareDir, service.filesDir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const bareUrl = (await message<{ url: string }>(bare, (m) => typeof (m as { url?: unknown }).url === 'string')).url;
    const auth = { authorization: await service.bearer('bench') };
    const octet = { 'content-type': 'application/octet-stream' };

    // 1. Upload 1 GiB: the service vs the bare server; the last stored artifact is the download's.
    const mibps = (s: number) => BIG / MiB / s;
    const uploads = { service: [] as number[], bare: [] as number[] };
    let bigKey = '';
    const uploadService = async () => {
      let answer = { status: 0, body: '' };
      uploads.service.push(mibps(await seconds(async () => { answer = await post(`${service!.url}/v1/artifacts?artifactType=model&artifactId=big`, BIG, { ...auth, ...octet }); })));
      if (answer.status !== 201) throw new Error(`service upload: ${answer.status} ${answer.body}`);
      const key = (JSON.parse(answer.body) as { storageKey: string }).storageKey;
      if (bigKey) await deleteArtifact(service!.url, bigKey, auth);
      bigKey = key;
    };
    const uploadBare = async () => {
      let answer = { status: 0, body: '' };
      uploads.bare.push(mibps(await seconds(async () => { answer = await post(`${bareUrl}/upload`, BIG, octet); })));
      if (answer.status !== 201) throw new Error(`bare upload: ${answer.status}`);
      await rm((JSON.parse(answer.body) as { path: string }).path);
    };
    // Without the upload part, one unmeasured upload makes the artifact the download reads.
    if (!PARTS.has('upload')) await uploadService();
    for (let round = 0; round < (PARTS.has('upload') ? ROUNDS : 0); round++) {
      if (round % 2 === 0) { await uploadService(); await uploadBare(); } else { await uploadBare(); await uploadService(); }
      console.log(`upload round ${round + 1}/${ROUNDS}: service ${uploads.service.at(-1)!.toFixed(0)} MiB/s, bare http+sha256 ${uploads.bare.at(-1)!.toFixed(0)} MiB/s`);
    }

    if (hasNginx) nginx = await startNginx(root, service.filesDir);

    // 2. Download 1 GiB: the service (Bearer) vs nginx serving the same file.
    const downloads = { service: [] as number[], nginx: [] as number[], bare: [] as number[], curlService: [] as number[], curlNginx: [] as number[] };
    // The service's CPU time per download (main thread, and all its threads): steadier than MiB/s on a busy machine.
    const serviceCpu: { main: number; all: number }[] = [];
    if (nginx && PARTS.has('download')) {
      const fetchBig = async (url: string, headers: Record<string, string>) => {
        let got = { status: 0, bytes: 0 };
        const s = await seconds(async () => { got = await get(url, headers); });
        if (got.status !== 200 || got.bytes !== BIG) throw new Error(`${url}: ${got.status}, ${got.bytes} bytes`);
        return mibps(s);
      };
      const viaService = async () => {
        const before = cpuSeconds(service!.pid);
        downloads.service.push(await fetchBig(`${service!.url}/v1/artifacts/${bigKey}`, auth));
        const after = cpuSeconds(service!.pid);
        if (before && after) serviceCpu.push({ main: after.main - before.main, all: after.all - before.all });
      };
      const viaNginx = async () => { downloads.nginx.push(await fetchBig(`${nginx!.url}/${bigKey}`, {})); };
      // One unmeasured pass each: the file in the page cache, both connections open, code warm.
      await viaService();
      await viaNginx();
      downloads.service.length = 0;
      downloads.nginx.length = 0;
      serviceCpu.length = 0;
      // For reference only: plain Node streaming of the same file (fs.createReadStream piped to the response).
      for (let i = 0; i < 3; i++) downloads.bare.push(await fetchBig(`${bareUrl}/${bigKey}`, {}));
      // Is the client the limit? curl (C, no JS per chunk) fetching both, alternating, as a reference.
      const hasCurl = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;
      for (let round = 0; hasCurl && round < 3; round++) {
        // Not spawnSync: a blocked event loop would miss the server closing the agent's idle sockets, and reuse one.
        const viaCurl = async (url: string, headers: string[]) => {
          const { stdout } = await execFileAsync('curl', ['-sS', '--fail', '-o', '/dev/null', '-w', '%{speed_download} %{size_download}', ...headers, url], { encoding: 'utf8' });
          const [speed, size] = stdout.trim().split(' ').map(Number);
          if (size !== BIG) throw new Error(`curl ${url}: ${size} bytes`);
          return speed! / MiB;
        };
        const fromService = async () => { downloads.curlService.push(await viaCurl(`${service!.url}/v1/artifacts/${bigKey}`, ['-H', `authorization: ${auth.authorization}`])); };
        const fromNginx = async () => { downloads.curlNginx.push(await viaCurl(`${nginx!.url}/${bigKey}`, [])); };
        if (round % 2 === 0) { await fromService(); await fromNginx(); } else { await fromNginx(); await fromService(); }
      }
      const rounds = Math.max(ROUNDS, 5);
      for (let round = 0; round < rounds; round++) {
        if (round % 2 === 0) { await viaService(); await viaNginx(); } else { await viaNginx(); await viaService(); }
        console.log(`download round ${round + 1}/${rounds}: service ${downloads.service.at(-1)!.toFixed(0)} MiB/s, nginx ${downloads.nginx.at(-1)!.toFixed(0)} MiB/s`);
      }
    }
    await deleteArtifact(service.url, bigKey, auth);

    console.log(`server bench: ${BIG / MiB} MiB transfers, medians of the rounds above; service peak RSS ${(await service.peakRssMb()).toFixed(0)} MB`);
    if (PARTS.has('upload')) reportRatio('server upload 1 GiB (POST /v1/artifacts vs bare http + sha256 to disk)', median(uploads.service), median(uploads.bare), 'MiB/s', 0.8);
    if (nginx && PARTS.has('download')) {
      console.log(`download rounds: service ${downloads.service.map((v) => v.toFixed(0)).join(', ')} MiB/s; nginx ${downloads.nginx.map((v) => v.toFixed(0)).join(', ')} MiB/s`);
      if (serviceCpu.length) console.log(`service CPU per ${BIG / MiB} MiB GET (verified reads ${VERIFY_READS ? 'on' : 'off'}): main thread ${median(serviceCpu.map((c) => c.main)).toFixed(2)} s, all threads ${median(serviceCpu.map((c) => c.all)).toFixed(2)} s (medians)`);
      // The result is curl's when it ran: the Node client tops out far below nginx (0.3 of curl's figure here) and would hide the service's cost.
      const what = `server download 1 GiB, verified reads ${VERIFY_READS ? 'on' : 'OFF'} (GET /v1/artifacts, Bearer, vs nginx sendfile`;
      if (downloads.curlNginx.length) {
        reportRatio(`${what}; curl -o /dev/null as the client, ${downloads.curlNginx.length} alternating rounds)`, median(downloads.curlService), median(downloads.curlNginx), 'MiB/s', 0.9);
        console.log(`(curl rounds: service ${downloads.curlService.map((v) => v.toFixed(0)).join(', ')} MiB/s, nginx ${downloads.curlNginx.map((v) => v.toFixed(0)).join(', ')} MiB/s; with the Node client above: ${(median(downloads.service) / median(downloads.nginx)).toFixed(2)}, its nginx median ${(median(downloads.nginx) / median(downloads.curlNginx)).toFixed(2)} of curl's)`);
      } else reportRatio(`${what}; the Node client, which may be the limit: install curl)`, median(downloads.service), median(downloads.nginx), 'MiB/s', 0.9);
      console.log(`(reference, no target: a bare Node http server piping fs.createReadStream of the same file: ${downloads.bare.map((v) => v.toFixed(0)).join(', ')} MiB/s, median ${median(downloads.bare).toFixed(0)}, ${(median(downloads.bare) / median(downloads.nginx)).toFixed(2)} of nginx)`);
    }
  } finally {
    agent.destroy();
    await nginx?.stop();
    if (bare) {
      const exited = new Promise((r) => bare!.once('exit', r));
      bare.send('stop');
      await exited;
    }
    await service?.stop();
    await rm(root, { recursive: true, force: true });
  }
}

async function deleteArtifact(base: string, key: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(`${base}/v1/artifacts/${key}`, { method: 'DELETE', headers });
  if (res.status !== 204) throw new Error(`delete ${key}: ${res.status}`);
}


if (process.argv[2] === '--serve') await serveChild(process.argv[3]!, process.argv[4] === '--log', Number(process.argv[5] ?? 1));
else if (process.argv[2] === '--bare-upload') await bareUploadChild(process.argv[3]!, process.argv[4]!);
else if (import.meta.main) await main();
