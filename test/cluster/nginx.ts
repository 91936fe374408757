import { spawn, spawnSync } from 'node:child_process';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after } from 'node:test';
import { freePort } from '../../src/server/start.ts';
import { tempDir } from '../helpers.ts';

/**
 * nginx as the cluster's load balancer, run the way the deployment guide says: the `nginx` block of
 * docs/deployment.md is the configuration, with its example node addresses, listen port and log
 * folder replaced by this test's. nginx runs as its own unprivileged process (its own prefix, pid,
 * logs and temp folders in a temp directory; as user `nobody` when the test runs as root).
 */

const guide = new URL('../../docs/deployment.md', import.meta.url);

/** The nginx binary: BOARDS_TEST_NGINX, else `nginx` on PATH or in /usr/sbin (Debian's nginx-light). */
export function findNginx(): string | undefined {
  for (const candidate of [process.env.BOARDS_TEST_NGINX, 'nginx', '/usr/sbin/nginx']) {
    if (candidate && spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  return undefined;
}

/** The nginx configuration the deployment guide gives (its first `nginx` code block). */
export async function guideNginxConfig(): Promise<string> {
  const text = await readFile(guide, 'utf8');
  const block = /```nginx\n([\s\S]*?)```/.exec(text)?.[1];
  if (!block) throw new Error('docs/deployment.md has no ```nginx block');
  return block;
}

/** The guide's configuration pointed at `upstreams` (ports on 127.0.0.1), listening on `port`, logging under `logDir`. */
export function localizeConfig(block: string, upstreams: number[], port: number, logDir: string): string {
  let next = 0;
  const config = block
    .replace(/server 10\.0\.0\.\d+:8080/g, () => `server 127.0.0.1:${upstreams[next++] ?? 'missing'}`)
    .replace(/listen 80;/, `listen 127.0.0.1:${port};`)
    .replaceAll('/var/log/nginx/', `${logDir}/`);
  if (next !== upstreams.length) throw new Error(`the guide's upstream lists ${next} nodes, the test runs ${upstreams.length}`);
  return config;
}

export interface AccessLogEntry {
  /** When nginx finished the request (epoch ms). */
  endMs: number;
  durationMs: number;
  method: string;
  path: string;
  status: number;
  /** Every node tried, in order (`host:port`). */
  upstreams: string[];
  upstreamStatuses: string[];
  id: string;
}

export interface Nginx {
  url: string;
  port: number;
  /** The guide's access log, parsed. */
  accessLog(): Promise<AccessLogEntry[]>;
  stop(): Promise<void>;
}

const LOG_LINE = /^\S+ \[[^\]]+\] (\d+\.\d+) "(\S+) (\S+)" (\d+) upstream=(.*?) upstream_status=(.*?) request_time=(\d+\.\d+) id=(\S+)$/;

export async function startNginx(binary: string, upstreams: number[]): Promise<Nginx> {
  const dir = await tempDir('nginx');
  await mkdir(join(dir, 'tmp'));
  const port = await freePort('127.0.0.1');
  const conf = join(dir, 'nginx.conf');
  const server = localizeConfig(await guideNginxConfig(), upstreams, port, dir);
  await writeFile(conf, `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
${server}
}
`);
  // Not nginx's master as root: as root, hand the folder to `nobody` and run as it (when `nobody`
  // can reach the folder: a TMPDIR private to root keeps it out, and then nginx runs as root).
  const nobody = 65534;
  let asNobody = process.getuid?.() === 0;
  if (asNobody) {
    for (const path of [dir, join(dir, 'tmp'), conf]) await chown(path, nobody, nobody);
    asNobody = spawnSync('test', ['-r', conf], { uid: nobody, gid: nobody }).status === 0;
    if (!asNobody) console.warn(`nginx runs as root: user nobody cannot reach ${dir}`);
  }
  const child = spawn(binary, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(asNobody ? { uid: nobody, gid: nobody } : {}),
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGQUIT');
    await exited;
  };
  after(stop);
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`);
    if (await answers(`${url}/metrics`)) break;
    if (Date.now() > until) throw new Error(`nginx did not answer on ${url} within 10 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url, port, stop,
    accessLog: async () => {
      const text = await readFile(join(dir, 'boards-storage.access.log'), 'utf8');
      return text.split('\n').filter(Boolean).map((line) => {
        const m = LOG_LINE.exec(line);
        if (!m) throw new Error(`unexpected access log line: ${line}`);
        return {
          endMs: Math.round(Number(m[1]) * 1000), method: m[2]!, path: m[3]!, status: Number(m[4]),
          upstreams: m[5] === '-' ? [] : m[5]!.split(/, | : /), upstreamStatuses: m[6] === '-' ? [] : m[6]!.split(/, | : /),
          durationMs: Math.round(Number(m[7]) * 1000), id: m[8]!,
        };
      });
    },
  };
}

/** Whether anything answers HTTP at `url` (any status). */
function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, (res) => { res.resume(); resolve(true); });
    req.on('error', () => resolve(false));
    req.end();
  });
}
