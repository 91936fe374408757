import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { mintToken } from '../../src/server/auth.ts';
import { freePort } from '../../src/server/start.ts';
import { tempDir } from '../helpers.ts';

/**
 * Several `boards-storage serve` processes sharing one configuration (one PostgreSQL catalog, one
 * S3 bucket, one TUS directory), as an operator runs them: each a child process on 127.0.0.1 that
 * a test may kill outright.
 */

const bin = fileURLToPath(new URL('../../bin/boards-storage.js', import.meta.url));
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BOARDS_STORAGE_')));

export interface ClusterConfig {
  /** The object under `storage:`; each node gets its own data_dir and port. */
  storage: Record<string, unknown>;
  jwtSecret: string;
  dir: string;
}

/** A configuration shared by every node: the JWT and signing secrets are fixed so that any node accepts any token. */
export async function clusterConfig(storage: Record<string, unknown>): Promise<ClusterConfig> {
  const dir = await tempDir('cluster');
  const jwtSecret = randomBytes(32).toString('hex');
  const server = (storage.server ?? {}) as Record<string, unknown>;
  return {
    dir, jwtSecret,
    storage: { signing_secret: randomBytes(32).toString('hex'), ...storage, server: { log_level: 'warn', ...server }, auth: { jwt_secret: jwtSecret, ...(storage.auth as object ?? {}) } },
  };
}

export interface ClusterNode {
  name: string;
  url: string;
  port: number;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** What the node wrote to stderr (its warnings and errors). */
  stderr(): string;
  /** What the node wrote to stdout: its banner, then its log (pino JSON lines). */
  stdout(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Start one node and wait until it listens (at most `startTimeoutMs`, 30 s by default). */
export async function startNode(cluster: ClusterConfig, name: string, port?: number, options: { startTimeoutMs?: number } = {}): Promise<ClusterNode> {
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const listenPort = port ?? await freePort('127.0.0.1');
  const dataDir = join(cluster.dir, name);
  const configPath = join(cluster.dir, `${name}.yaml`);
  await writeFile(configPath, stringify({ storage: { ...cluster.storage, data_dir: dataDir } }));
  const child = spawn(process.execPath, [bin, '--config', configPath, 'serve', '--port', String(listenPort)], { env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stdout = '';
  let listening = false;
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${name} did not start within ${startTimeoutMs / 1000} s: ${stderr}`)), startTimeoutMs);
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (!listening && stdout.includes('listening on')) { listening = true; clearTimeout(timer); resolve(); }
    });
    child.once('exit', () => { clearTimeout(timer); reject(new Error(`node ${name} exited: ${stderr}`)); });
  });
  return {
    name, port: listenPort, url: `http://127.0.0.1:${listenPort}`, child, exited, stderr: () => stderr, stdout: () => stdout,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export async function bearer(cluster: ClusterConfig, claims: { tenant?: string; role?: string; sub?: string }): Promise<Record<string, string>> {
  const token = await mintToken(cluster.jwtSecret, { subject: claims.sub ?? 'user-1', expiresIn: 3600, ...(claims.tenant ? { tenantId: claims.tenant } : {}), ...(claims.role ? { role: claims.role } : {}) });
  return { authorization: `Bearer ${token}` };
}

/**
 * A TCP balancer for tests: every connection goes to the current target; `cut()` drops every
 * connection at once, as a flaky link or a failing node does. Counts the bytes clients sent.
 */
export interface TestBalancer {
  url: string;
  target: number;
  bytesIn: number;
  cut(): void;
  close(): Promise<void>;
}

export async function startBalancer(target: number): Promise<TestBalancer> {
  const sockets = new Set<Socket>();
  const port = await freePort('127.0.0.1');
  const balancer: TestBalancer = {
    url: `http://127.0.0.1:${port}`,
    target,
    bytesIn: 0,
    cut: () => { for (const s of sockets) s.destroy(); sockets.clear(); },
    close: () => new Promise((resolve) => { balancer.cut(); server.close(() => resolve()); }),
  };
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: balancer.target });
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (c: Buffer) => { balancer.bytesIn += c.length; });
    client.pipe(upstream).pipe(client);
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  after(() => balancer.close());
  return balancer;
}
