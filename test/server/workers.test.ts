import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../../src/server/start.ts';
import { cliBin, startServe, tempDir } from '../helpers.ts';

/** `boards-storage serve --workers 2`: two processes on one port, one SQLite catalog, as a user runs it. */

const bin = fileURLToPath(new URL('../../bin/boards-storage.js', import.meta.url));
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BOARDS_STORAGE_')));

interface Ready { node: { node: string; leader: boolean; mode: string } }

interface Answer { status: number; body: Buffer; text(): string; json<T>(): T }

/** The workers' process ids, from their node ids (host:pid:random). */
function pidsOf(workers: Map<string, Ready['node']>): number[] {
  return [...workers.keys()].map((id) => Number(id.split(':').at(-2)));
}

/** How a request on a new connection ended: its status, or the connection error's code. */
function outcome(url: string): Promise<string> {
  return fresh(url).then((res) => String(res.status), (error: NodeJS.ErrnoException) => error.code ?? error.message);
}

/** Resolves once a connection to `url` is refused (ECONNREFUSED); rejects if connections are still accepted after `ms`. */
async function refusedWithin(url: string, ms: number): Promise<void> {
  const { hostname, port } = new URL(url);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(Number(port), hostname);
      socket.once('connect', () => { socket.destroy(); resolve(false); });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    if (refused) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} still accepted connections ${ms / 1000} s after SIGTERM`);
}

/** Resolves with the exit code, or rejects when the process still runs after `ms`. */
function exitWithin(exited: Promise<number | null>, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    exited.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`still running ${ms / 1000} s after SIGTERM`)), ms); }),
  ]);
}

/** Each on a new connection (no agent), so that the primary hands them to the workers in turn. */
function fresh(url: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, body, text: () => body.toString('utf8'), json: <T>() => JSON.parse(body.toString('utf8')) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.end(init.body);
  });
}

/** The workers answering /readyz (node id -> its answer), asked until `count` distinct ones answered or 120 s passed. */
async function workersAnswering(url: string, count: number, without: Set<string> = new Set()): Promise<Map<string, Ready['node']>> {
  const seen = new Map<string, Ready['node']>();
  const until = Date.now() + 120_000;
  while (Date.now() < until) {
    const res = await fresh(`${url}/readyz`).catch(() => undefined);
    if (res?.status === 200) {
      const { node } = res.json<Ready>();
      if (!without.has(node.node)) seen.set(node.node, node);
      if (seen.size >= count) return seen;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`only ${seen.size} of ${count} workers answered within 120 s`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('boards-storage serve --workers', () => {
  it('serves one port from two processes that agree on every artifact, sums their metrics, leads once, replaces a dead worker and stops on SIGTERM', { timeout: 240_000 }, async () => {
    const cwd = await tempDir('workers');
    const serve = await startServe(cwd, ['serve', '--port', '0', '--workers', '2', '--data-dir', join(cwd, 'state')], cleanEnv, 120_000);
    const { child, exited } = serve;
    try {
      assert.match(serve.stdout, /listening on http:\/\/127\.0\.0\.1:\d+ \(data: .*, 2 worker processes\)/);
      // One banner (one development token), whatever the number of workers.
      assert.equal(serve.stdout.match(/Other tokens:/g)?.length, 1);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(serve.stdout)![1]!;
      const auth = { authorization: `Bearer ${/export TOKEN=(\S+)/.exec(serve.stdout)![1]!}` };

      // Both answer on the port; on SQLite the first runs the background work, the other none.
      const workers = await workersAnswering(url, 2);
      assert.deepEqual([...workers.values()].map((w) => [w.mode, w.leader]).sort(), [['worker', false], ['worker', true]]);

      // What one stores, every one serves; what one deletes, none serves (the small-object cache included).
      const bytes = randomBytes(4096);
      const stored = await fresh(`${url}/v1/artifacts?artifactType=model`, { method: 'POST', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: bytes });
      assert.equal(stored.status, 201, stored.text());
      const { storageKey } = stored.json<{ storageKey: string }>();
      const reads = 12;
      for (let i = 0; i < reads; i++) {
        const res = await fresh(`${url}/v1/artifacts/${storageKey}`, { headers: auth });
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, bytes);
      }
      // /metrics on either worker counts the requests of both.
      const metrics = (await fresh(`${url}/metrics`)).text();
      assert.match(metrics, new RegExp(`boards_storage_http_requests_total\\{method="GET",route="/v1/artifacts/\\*",status="200"\\} ${reads}\\n`));
      assert.equal(metrics.match(/^boards_storage_leader\{node="[^"]+"\} 1$/gm)?.length, 1, metrics);
      assert.equal(metrics.match(/^boards_storage_leader\{node="[^"]+"\} 0$/gm)?.length, 1, metrics);
      // Catalog-wide figures are one worker's, not the sum.
      assert.match(metrics, /boards_storage_stored_artifacts\{provider="local"\} 1\n/);
      assert.equal((await fresh(`${url}/v1/artifacts/${storageKey}`, { method: 'DELETE', headers: auth })).status, 204);
      for (let i = 0; i < reads; i++) assert.equal((await fresh(`${url}/v1/artifacts/${storageKey}`, { headers: auth })).status, 404);

      // A worker killed outright is replaced on the same port.
      const [victim] = [...workers.keys()];
      const pid = Number(victim!.split(':').at(-2));
      process.kill(pid, 'SIGKILL');
      const replacement = await workersAnswering(url, 1, new Set(workers.keys()));
      assert.equal(replacement.size, 1);
      assert.match(serve.stderr, new RegExp(`worker \\d \\(pid ${pid}\\) exited \\(SIGKILL\\); starting another`));

      // SIGTERM to the primary stops every worker, and the primary exits 0.
      const pids = [...(await workersAnswering(url, 2)).keys()].map((id) => Number(id.split(':').at(-2)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, serve.stderr);
      for (const worker of pids) assert.equal(alive(worker), false, `worker ${worker} still runs`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('hands a connection that a dying worker never took to another worker, and serves every connection it accepted before a SIGTERM', { timeout: 240_000 }, async () => {
    const cwd = await tempDir('workers-handoff');
    const serve = await startServe(cwd, ['serve', '--port', '0', '--workers', '2', '--data-dir', join(cwd, 'state')], cleanEnv, 120_000);
    const { child, exited } = serve;
    const stopped: number[] = [];
    try {
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(serve.stdout)![1]!;
      const [a] = pidsOf(await workersAnswering(url, 2));

      // Worker a hangs, then is killed: the connections handed to it meanwhile are served by b (or its replacement).
      process.kill(a!, 'SIGSTOP');
      stopped.push(a!);
      const duringRestart = Array.from({ length: 6 }, () => outcome(`${url}/readyz`));
      await new Promise((r) => setTimeout(r, 500));
      process.kill(a!, 'SIGKILL');
      assert.deepEqual(await Promise.all(duringRestart), Array(6).fill('200'), serve.stderr);

      // Both workers hang while connections come in; then SIGTERM, then they carry on: every accepted one is answered.
      const workers = pidsOf(await workersAnswering(url, 2, new Set([String(a)])));
      for (const pid of workers) { process.kill(pid, 'SIGSTOP'); stopped.push(pid); }
      const duringShutdown = Array.from({ length: 4 }, () => outcome(`${url}/readyz`));
      await new Promise((r) => setTimeout(r, 500));
      child.kill('SIGTERM');
      // From the SIGTERM on, a new connection is refused by the system, not accepted and then dropped.
      await refusedWithin(url, 20_000);
      for (const pid of workers) process.kill(pid, 'SIGCONT');
      assert.deepEqual(await Promise.all(duringShutdown), Array(4).fill('200'), serve.stderr);
      assert.equal(await exitWithin(exited, 60_000), 0, serve.stderr);
      for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} still runs`);
    } finally {
      for (const pid of stopped) if (alive(pid)) process.kill(pid, 'SIGCONT');
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('stops on SIGTERM when nothing reads its output any more (serve | head -1), and kills a worker that does not stop in time', { timeout: 240_000 }, async () => {
    const cwd = await tempDir('workers-epipe');
    await writeFile(join(cwd, 'storage.yaml'), `storage:\n  data_dir: ${JSON.stringify(join(cwd, 'state'))}\n  server:\n    shutdown_timeout: 1s\n`);
    const port = await freePort('127.0.0.1');
    const url = `http://127.0.0.1:${port}`;
    const run = () => {
      const child = spawn(process.execPath, [cliBin, '--config', 'storage.yaml', 'serve', '--port', String(port), '--workers', '2'], { cwd, env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      // The reader goes before the banner is written: every write to stdout meets a closed pipe (EPIPE).
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, exited, stderr: () => stderr };
    };

    const quiet = run();
    try {
      const workers = pidsOf(await workersAnswering(url, 2));
      // Requests are logged (to the closed stdout) too.
      for (let i = 0; i < 4; i++) assert.equal((await fresh(`${url}/readyz`)).status, 200);
      quiet.child.kill('SIGTERM');
      assert.equal(await exitWithin(quiet.exited, 30_000), 0, quiet.stderr());
      assert.doesNotMatch(quiet.stderr(), /EPIPE|exited/);
      for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} still runs`);
    } finally {
      if (quiet.child.exitCode === null) quiet.child.kill('SIGKILL');
    }

    // A worker that cannot act on SIGTERM (stopped here) is killed after shutdown_timeout and some seconds: the primary exits 1.
    const hung = run();
    let stoppedPid: number | undefined;
    try {
      const workers = pidsOf(await workersAnswering(url, 2));
      stoppedPid = workers[0]!;
      process.kill(stoppedPid, 'SIGSTOP');
      const signalled = Date.now();
      hung.child.kill('SIGTERM');
      assert.equal(await exitWithin(hung.exited, 30_000), 1, hung.stderr());
      assert.ok(Date.now() - signalled >= 1000, 'killed before shutdown_timeout');
      assert.match(hung.stderr(), new RegExp(`worker \\d \\(pid ${stoppedPid}\\) did not stop in time; killing it`));
      for (const pid of workers) assert.equal(alive(pid), false, `worker ${pid} still runs`);
    } finally {
      if (stoppedPid !== undefined && alive(stoppedPid)) process.kill(stoppedPid, 'SIGKILL');
      if (hung.child.exitCode === null) hung.child.kill('SIGKILL');
    }
  });

  it('refuses in-memory rate limits with several workers: each would count alone', async () => {
    const cwd = await tempDir('workers-rate');
    await writeFile(join(cwd, 'storage.yaml'), `storage:\n  data_dir: ${JSON.stringify(join(cwd, 'state'))}\n  server:\n    rate_limit:\n      per_tenant: { max: 100 }\n`);
    const result = await promisify(execFile)(process.execPath, [bin, '--config', 'storage.yaml', 'serve', '--port', '0', '--workers', '2'], { cwd, env: cleanEnv }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((result as { code: number }).code, 1);
    assert.match((result as { stderr: string }).stderr, /^boards-storage: CONFIG_INVALID: storage\.server\.rate_limit with 2 workers needs storage\.redis_url/);
  });
});
