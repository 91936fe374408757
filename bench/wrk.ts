/**
 * The `wrk` runner of the HTTP benches (apt-get install -y wrk) and the CPU time they read from
 * /proc: wrk loads the servers far harder than a Node client could, and CPU per request is steadier
 * than requests per second on a busy machine.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface WrkResult { requests: number; bytes: number; seconds: number; errors: number; perSecond: number; p50Ms: number; p99Ms: number }

export interface WrkRun {
  threads: number;
  connections: number;
  seconds: number;
  /** The Lua script, which must end with WRK_DONE. */
  script: string;
  headers?: Record<string, string>;
  /** Passed to the script's `init(args)`. */
  args?: string[];
}

export const hasWrk = spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;

/** The Lua `done` callback every script ends with: one JSON line with the totals, parsed instead of wrk's human summary. */
export const WRK_DONE = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%d,"bytes":%d,"duration":%d,"errors":%d,"p50":%d,"p99":%d}\\n',
    summary.requests, summary.bytes, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

/** One wrk run against `base`, as is: `checked` says whether it counts. */
export async function wrk(base: string, run: WrkRun): Promise<WrkResult> {
  const args = ['-t', String(run.threads), '-c', String(run.connections), '-d', `${run.seconds}s`, '--timeout', '10s', '-s', run.script,
    ...Object.entries(run.headers ?? {}).flatMap(([name, value]) => ['-H', `${name}: ${value}`]), base, ...(run.args ? ['--', ...run.args] : [])];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const line = /WRK_JSON (\{.*\})/.exec(out);
  if (code !== 0 || !line) throw new Error(`wrk exited ${code}: ${out}`);
  const r = JSON.parse(line[1]!) as { requests: number; bytes: number; duration: number; errors: number; p50: number; p99: number };
  const seconds = r.duration / 1e6;
  return { requests: r.requests, bytes: r.bytes, seconds, errors: r.errors, perSecond: r.requests / seconds, p50Ms: r.p50 / 1000, p99Ms: r.p99 / 1000 };
}

/** A run counts only when every response was a 2xx carrying at least `minBody` bytes of body (bytes read include the headers). */
export function checked(name: string, r: WrkResult, minBody = 0): WrkResult {
  if (r.errors) throw new Error(`${name}: ${r.errors} failed requests (non-2xx, socket errors or timeouts) of ${r.requests}`);
  if (r.requests === 0 || r.bytes < r.requests * minBody) throw new Error(`${name}: ${r.bytes} bytes for ${r.requests} responses of at least ${minBody} bytes`);
  return r;
}

/** CPU seconds of these processes (user + system, all threads), from /proc; undefined off Linux or when one has gone. */
export async function cpuOf(pids: number[]): Promise<number | undefined> {
  let total = 0;
  for (const pid of pids) {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined))?.split(') ')[1]?.split(' ');
    if (!fields) return undefined;
    total += (Number(fields[11]) + Number(fields[12])) / 100;
  }
  return total;
}

/** A process and its children (a primary and its workers), read now: a replaced worker is counted from then on. */
export async function withChildren(pid: number): Promise<number[]> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return [pid, ...children.trim().split(/\s+/).filter(Boolean).map(Number)];
}
