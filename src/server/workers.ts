import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Registry } from 'prom-client';
import { ConfigError } from '../errors.ts';

/**
 * `serve --workers N` (or `server.workers: N`): N processes of the service on one port, through
 * node:cluster. One Node process tops out at one core; a host with several serves more requests
 * with as many processes, as nginx does with worker_processes.
 *
 * Every worker is a whole service (its own manager, caches and catalog connection) on the shared
 * catalog, exactly as several nodes are (docs/nodes.md), with three differences the primary takes
 * care of:
 * - on SQLite only worker 1 runs the background work (no lease table there); on PostgreSQL every
 *   worker takes part in the lease like any node;
 * - worker 1 starts alone first (the catalog's migrations, the generated secrets), the others once
 *   it listens, on its port;
 * - /metrics on any worker answers for all of them (prom-client's cluster aggregation, done here).
 * A worker that dies is replaced; SIGTERM/SIGINT to the primary stop every worker gracefully.
 */

/** What the primary tells a worker through its environment. */
const WORKER_INDEX = 'BOARDS_STORAGE_WORKER_INDEX';
const WORKER_COUNT = 'BOARDS_STORAGE_WORKER_COUNT';
const WORKER_PORT = 'BOARDS_STORAGE_WORKER_PORT';

const READY = 'boards-storage:ready';
const METRICS_REQUEST = 'boards-storage:metrics?';
const METRICS_ANSWER = 'boards-storage:metrics';
/** A worker that dies sooner than this after starting is replaced only after this long (no crash loop at full speed). */
const RESTART_DELAY_MS = 1000;

/** This process's place among the workers, or undefined when it is not one. */
export interface WorkerRole {
  /** 1..count; worker 1 is the first to start and, on SQLite, the one that runs the background work. */
  index: number;
  count: number;
  /** The port worker 1 listens on (absent for worker 1 itself). */
  port?: number;
}

export function workerRole(env: Record<string, string | undefined> = process.env): WorkerRole | undefined {
  if (!cluster.isWorker) return undefined;
  const index = Number(env[WORKER_INDEX]);
  const count = Number(env[WORKER_COUNT]);
  if (!Number.isInteger(index) || !Number.isInteger(count)) return undefined;
  const port = env[WORKER_PORT] === undefined ? undefined : Number(env[WORKER_PORT]);
  return { index, count, ...(port === undefined ? {} : { port }) };
}

/** Whether this process should start workers instead of serving itself. */
export function startsWorkers(workers: number): boolean {
  return workers > 1 && cluster.isPrimary;
}

/** In a worker: say that it listens (the primary starts the next ones on this port). */
export function workerReady(url: string, port: number): void {
  process.send?.({ type: READY, url, port });
}

/** In a worker: /metrics answers for every worker, through the primary. */
export function clusterMetricsSource(registry: Registry): () => Promise<string> {
  AggregatorRegistry.setRegistries([registry]);
  // Constructed for its side effect: the worker answers the primary's requests for its metrics.
  new AggregatorRegistry();
  let next = 0;
  const waiting = new Map<number, { resolve: (body: string) => void; reject: (error: Error) => void }>();
  process.on('message', (message: { type?: unknown; id?: number; body?: string; error?: string }) => {
    if (message.type !== METRICS_ANSWER || message.id === undefined) return;
    const answer = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error !== undefined) answer?.reject(new Error(`the workers' metrics could not be gathered: ${message.error}`));
    else answer?.resolve(message.body ?? '');
  });
  return () => new Promise((resolve, reject) => {
    const id = next++;
    waiting.set(id, { resolve, reject });
    process.send!({ type: METRICS_REQUEST, id });
  });
}

export interface WorkersOptions {
  count: number;
  /** Said on stderr: a worker that died and its replacement. */
  log: (line: string) => void;
}

export interface RunningWorkers {
  /** Resolves once every worker listens, with the URL they serve; rejects when worker 1 cannot start (its own error is on its stderr) or another never listens. */
  ready: Promise<{ url: string }>;
  /** Resolves once every worker has stopped (after `stop`, or after a failed start), with the exit code the primary should end with. */
  stopped: Promise<number>;
  /** Pass the signal on to every worker: each finishes its requests and exits. */
  stop(signal: NodeJS.Signals): void;
}

/**
 * In the primary: start `count` workers, each running this same program (`cluster.fork()` runs the
 * primary's script and arguments again), worker 1 first. `stop` works at any time, also while the
 * workers are still starting.
 */
export function runWorkers(options: WorkersOptions): RunningWorkers {
  if (!Number.isInteger(options.count) || options.count < 2) throw new ConfigError(`workers: ${options.count} is not a number of worker processes (2 or more)`);
  const aggregator = new AggregatorRegistry();
  let port: number | undefined;
  let url = '';
  let stopping = false;
  let exitCode = 0;
  const live = new Map<number, Worker>();

  // Any worker may ask for everyone's metrics.
  cluster.on('message', (worker, message: { type?: unknown; id?: unknown }) => {
    if (message.type !== METRICS_REQUEST) return;
    aggregator.clusterMetrics().then(
      (body) => worker.isConnected() && worker.send({ type: METRICS_ANSWER, id: message.id, body }),
      (error: unknown) => worker.isConnected() && worker.send({ type: METRICS_ANSWER, id: message.id, error: (error as Error).message }),
    );
  });

  const fork = (index: number): Promise<void> => {
    const worker = cluster.fork({ [WORKER_INDEX]: String(index), [WORKER_COUNT]: String(options.count), ...(port === undefined ? {} : { [WORKER_PORT]: String(port) }) });
    const startedAt = performance.now();
    live.set(index, worker);
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: { type?: unknown; port?: number; url?: string }) => {
        if (message.type !== READY) return;
        ready = true;
        port ??= message.port;
        url ||= message.url ?? '';
        resolve();
      });
      worker.once('exit', (code, signal) => {
        if (live.get(index) === worker) live.delete(index);
        if (!ready) reject(new Error(`worker ${index} exited (${signal ?? `code ${code}`}) before it listened`));
        if (stopping) {
          // A worker that could not stop cleanly makes the primary's exit code too.
          if (code !== 0) exitCode = code ?? 1;
          return;
        }
        if (!ready) return;
        // Replaced on this port (its configuration was good once): a crash loop slows to one start a second.
        const delay = performance.now() - startedAt < RESTART_DELAY_MS ? RESTART_DELAY_MS : 0;
        options.log(`boards-storage: worker ${index} (pid ${worker.process.pid}) exited (${signal ?? `code ${code}`}); starting another in ${delay} ms`);
        setTimeout(() => {
          if (!stopping) fork(index).catch((error: unknown) => options.log(`boards-storage: ${(error as Error).message}; it is not replaced again`));
        }, delay).unref();
      });
    });
  };

  let stoppedNow: (() => void) | undefined;
  const allStopped = new Promise<void>((resolve) => { stoppedNow = resolve; });
  cluster.on('exit', () => setImmediate(() => { if (stopping && live.size === 0) stoppedNow!(); }));
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    if (live.size === 0) stoppedNow!();
    for (const worker of live.values()) worker.process.kill(signal);
  };

  const ready = (async () => {
    await fork(1);
    await Promise.all(Array.from({ length: options.count - 1 }, (_, i) => fork(i + 2)));
    return { url };
  })();
  // A start that failed stops whatever did start.
  ready.catch(() => stop('SIGTERM'));
  return { ready, stopped: allStopped.then(() => exitCode), stop };
}
