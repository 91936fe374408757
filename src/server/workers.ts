import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import type { Server as HttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { Socket } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import type { Registry } from 'prom-client';
import { ConfigError } from '../errors.ts';
import { errorBody } from './errors.ts';

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
 *
 * The primary listens and hands each connection to a worker in turn, as node:cluster's round robin
 * does, but keeps its own copy until the worker says it took it: a connection handed to a worker
 * that dies, or that is stopping, before taking it goes to another one instead of being lost (a
 * request already in a worker that is killed outright is lost with it). On SIGTERM the primary
 * stops listening first (new connections are refused by the system), waits until every connection
 * it accepted is in a worker, then stops the workers: each finishes its requests within
 * `server.shutdown_timeout`; a worker still there some seconds later is killed.
 */

/** What the primary tells a worker through its environment. */
const WORKER_INDEX = 'BOARDS_STORAGE_WORKER_INDEX';
const WORKER_COUNT = 'BOARDS_STORAGE_WORKER_COUNT';
const WORKER_PORT = 'BOARDS_STORAGE_WORKER_PORT';

const READY = 'boards-storage:ready';
const METRICS_REQUEST = 'boards-storage:metrics?';
const METRICS_ANSWER = 'boards-storage:metrics';
/** Primary -> worker: a connection (the message's handle); worker -> primary: taken or not. */
const CONNECTION = 'boards-storage:connection';
const CONNECTION_TAKEN = 'boards-storage:connection-taken';
/** Worker -> primary: it takes no more connections (it is stopping). */
const STOPPING = 'boards-storage:stopping';
/** Connections held while no worker can take one (all restarting): more are answered 503. */
const MAX_WAITING_CONNECTIONS = 1024;
/** After a worker's own shutdown bound, how long the primary waits before it kills the worker. */
const KILL_GRACE_MS = 5000;
/** A worker that dies sooner than this after starting is replaced only after this long (no crash loop at full speed). */
const RESTART_DELAY_MS = 1000;

/** This process's place among the workers, or undefined when it is not one. */
export interface WorkerRole {
  /** 1..count; worker 1 is the first to start and, on SQLite, the one that runs the background work. */
  index: number;
  count: number;
  /** The port the primary listens on (the worker serves the connections it hands over, and names it in its URL). */
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

/** In a worker: say that it serves (the primary starts the next ones and hands it connections). */
export function workerReady(url: string): void {
  process.send?.({ type: READY, url });
}

/**
 * In a worker: serve the connections the primary hands over with `server` (which does not listen
 * itself). Returns the function that refuses any more (at shutdown): the primary then hands them to
 * another worker.
 */
export function serveHandedConnections(server: HttpServer): () => void {
  let refusing = false;
  process.on('message', (message: { type?: unknown; id?: unknown }, socket: Socket | undefined) => {
    if (message.type !== CONNECTION) return;
    if (refusing || !socket) {
      process.send?.({ type: CONNECTION_TAKEN, id: message.id, taken: false });
      // Only this process's copy closes: the primary still holds the connection.
      socket?.destroy();
      return;
    }
    // Said before the first byte is read: a worker that dies after this has taken the request with it.
    process.send?.({ type: CONNECTION_TAKEN, id: message.id, taken: true });
    adopt(server, socket);
  });
  return () => {
    if (refusing) return;
    refusing = true;
    if (process.connected) process.send?.({ type: STOPPING });
  };
}

/**
 * What net.Server does with a connection it accepts, for one accepted elsewhere: counted, so that
 * `server.close()` waits for it (through these fields, as node:cluster's own workers do), and
 * with the delay off as node:http's own connections have it.
 */
function adopt(server: HttpServer, socket: Socket): void {
  const counted = server as unknown as { _connections: number };
  const owned = socket as unknown as { server: HttpServer; _server: HttpServer };
  counted._connections++;
  owned.server = server;
  owned._server = server;
  socket.setNoDelay(true);
  server.emit('connection', socket);
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
  /** Where the primary listens (port 0: a free one). */
  host: string;
  port: number;
  /** server.shutdown_timeout: how long a stopping worker lets requests finish (it is killed KILL_GRACE_MS later). */
  shutdownTimeoutMs: number;
  /** Said on stderr: a worker that died and its replacement. */
  log: (line: string) => void;
}

export interface RunningWorkers {
  /** Resolves once every worker serves, with the URL they serve; rejects when the port cannot be listened on, worker 1 cannot start (its own error is on its stderr) or another never serves. Resolves too when `stop` came first. */
  ready: Promise<{ url: string }>;
  /** Resolves once every worker has stopped (after `stop`, or after a failed start), with the exit code the primary should end with. */
  stopped: Promise<number>;
  /** Stop listening, and once every accepted connection is in a worker, pass the signal on to every worker: each finishes its requests and exits. SIGKILL: at once. */
  stop(signal: NodeJS.Signals): void;
}

/**
 * In the primary: listen, then start `count` workers, each running this same program
 * (`cluster.fork()` runs the primary's script and arguments again), worker 1 first, and hand them
 * the connections. `stop` works at any time, also while the workers are still starting.
 */
export function runWorkers(options: WorkersOptions): RunningWorkers {
  if (!Number.isInteger(options.count) || options.count < 2) throw new ConfigError(`workers: ${options.count} is not a number of worker processes (2 or more)`);
  const aggregator = new AggregatorRegistry();
  const listener = createNetServer({ pauseOnConnect: true });
  let url = '';
  let stopping = false;
  let exitCode = 0;
  const live = new Map<number, Worker>();
  const handing = new ConnectionHandoff(options.log);
  listener.on('connection', (socket: Socket) => handing.hand(socket));

  cluster.on('message', (worker, message: { type?: unknown; id?: unknown; taken?: unknown }) => {
    if (message.type === CONNECTION_TAKEN) handing.answered(worker, Number(message.id), message.taken === true);
    else if (message.type === STOPPING) handing.leave(worker);
    else if (message.type === METRICS_REQUEST) {
      // Any worker may ask for everyone's metrics.
      aggregator.clusterMetrics().then(
        (body) => worker.isConnected() && worker.send({ type: METRICS_ANSWER, id: message.id, body }),
        (error: unknown) => worker.isConnected() && worker.send({ type: METRICS_ANSWER, id: message.id, error: (error as Error).message }),
      );
    }
  });

  const fork = (index: number, port: number): Promise<void> => {
    const worker = cluster.fork({ [WORKER_INDEX]: String(index), [WORKER_COUNT]: String(options.count), [WORKER_PORT]: String(port) });
    const startedAt = performance.now();
    live.set(index, worker);
    // Gone or going: what was handed to it and not taken goes to another worker.
    worker.once('disconnect', () => handing.leave(worker));
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (message: { type?: unknown; url?: string }) => {
        if (message.type !== READY) return;
        ready = true;
        url ||= message.url ?? '';
        // Also while stopping: the connections accepted before then still need a worker.
        handing.join(worker);
        resolve();
      });
      worker.once('exit', (code, signal) => {
        handing.leave(worker);
        if (live.get(index) === worker) live.delete(index);
        if (stopping) {
          // Stopped before it served, as asked: not a failed start.
          if (!ready) resolve();
          // A worker that could not stop cleanly (or had to be killed) makes the primary's exit code too.
          else if (code !== 0) exitCode = code ?? 1;
          return;
        }
        if (!ready) {
          reject(new Error(`worker ${index} exited (${signal ?? `code ${code}`}) before it served`));
          return;
        }
        // Replaced (its configuration was good once): a crash loop slows to one start a second.
        const delay = performance.now() - startedAt < RESTART_DELAY_MS ? RESTART_DELAY_MS : 0;
        options.log(`boards-storage: worker ${index} (pid ${worker.process.pid}) exited (${signal ?? `code ${code}`}); starting another in ${delay} ms`);
        setTimeout(() => {
          if (!stopping) fork(index, port).catch((error: unknown) => options.log(`boards-storage: ${(error as Error).message}; it is not replaced again`));
        }, delay).unref();
      });
    });
  };

  let stoppedNow: (() => void) | undefined;
  const allStopped = new Promise<void>((resolve) => { stoppedNow = resolve; });
  cluster.on('exit', () => setImmediate(() => { if (stopping && live.size === 0) stoppedNow!(); }));
  let killTimer: NodeJS.Timeout | undefined;
  const killAll = (late: boolean) => {
    for (const [index, worker] of live) {
      if (late) options.log(`boards-storage: worker ${index} (pid ${worker.process.pid}) did not stop in time; killing it`);
      worker.process.kill('SIGKILL');
      exitCode = 1;
    }
  };
  const stop = (signal: NodeJS.Signals) => {
    if (signal === 'SIGKILL') {
      stopping = true;
      handing.refuseAll();
      if (listener.listening) listener.close();
      killAll(false);
      if (live.size === 0) stoppedNow!();
      return;
    }
    if (stopping) return;
    stopping = true;
    // New connections are refused by the system from now on; the accepted ones are served.
    if (listener.listening) listener.close();
    void handing.settled(options.shutdownTimeoutMs).then(() => {
      handing.refuseAll();
      if (live.size === 0) stoppedNow!();
      for (const worker of live.values()) worker.process.kill(signal);
      // Whatever state the worker is in (a hung drain, a full pipe), the primary ends in bounded time.
      killTimer = setTimeout(() => killAll(true), options.shutdownTimeoutMs + KILL_GRACE_MS);
    });
  };

  const ready = (async () => {
    const port = await listen(listener, options.host, options.port);
    if (stopping) return { url };
    await fork(1, port);
    // Stopped meanwhile: no more workers (those forked later would miss the signal).
    if (stopping) return { url };
    await Promise.all(Array.from({ length: options.count - 1 }, (_, i) => fork(i + 2, port)));
    return { url };
  })();
  // A start that failed stops whatever did start.
  ready.catch(() => stop('SIGTERM'));
  const stopped = allStopped.then(() => {
    clearTimeout(killTimer);
    if (listener.listening) listener.close();
    return exitCode;
  });
  return { ready, stopped, stop };
}

function listen(listener: ReturnType<typeof createNetServer>, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.listen({ host, port }, () => {
      listener.off('error', reject);
      const address = listener.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/**
 * The primary's side of the connections: each goes to the next worker in turn and stays the
 * primary's too until that worker says it took it. One it refused, or never answered for (it died
 * or disconnected), goes to the next; with no worker to take it (all restarting), it waits, up to
 * MAX_WAITING_CONNECTIONS, after which, or once stopping, it is answered 503.
 */
class ConnectionHandoff {
  private readonly serving: Worker[] = [];
  private turn = 0;
  private nextId = 0;
  private readonly handed = new Map<Worker, Map<number, Socket>>();
  private readonly waiting: Socket[] = [];
  private refusing = false;
  private settle: (() => void) | undefined;
  private readonly log: (line: string) => void;

  constructor(log: (line: string) => void) {
    this.log = log;
  }

  hand(socket: Socket): void {
    if (socket.destroyed) return;
    // A client that goes while its connection waits for a worker: nothing is left to hand.
    if (socket.listenerCount('error') === 0) socket.on('error', () => socket.destroy());
    const worker = this.next();
    if (!worker) {
      if (this.refusing || this.waiting.length >= MAX_WAITING_CONNECTIONS) refuse(socket);
      else this.waiting.push(socket);
      return;
    }
    const id = this.nextId++;
    let ofWorker = this.handed.get(worker);
    if (!ofWorker) this.handed.set(worker, ofWorker = new Map());
    ofWorker.set(id, socket);
    // keepOpen: this copy stays open until the worker answers.
    worker.send({ type: CONNECTION, id }, socket, { keepOpen: true }, (error) => {
      if (error) this.answered(worker, id, false);
    });
  }

  /** The worker took the connection (this copy closes; the worker's stays) or refused it (another worker gets it). */
  answered(worker: Worker, id: number, taken: boolean): void {
    const socket = this.handed.get(worker)?.get(id);
    if (!socket) return;
    this.handed.get(worker)!.delete(id);
    if (taken) socket.destroy();
    else {
      // It refuses: it is stopping, and gets no more.
      this.leave(worker);
      this.hand(socket);
    }
    this.checkSettled();
  }

  /** A worker that serves: in turn from now on, and the connections waiting for one go to it. */
  join(worker: Worker): void {
    if (!this.serving.includes(worker)) this.serving.push(worker);
    for (const socket of this.waiting.splice(0)) this.hand(socket);
  }

  /** A worker stopping, gone or going: no more connections, and those it did not take go to others. */
  leave(worker: Worker): void {
    const at = this.serving.indexOf(worker);
    if (at >= 0) this.serving.splice(at, 1);
    const ofWorker = this.handed.get(worker);
    if (!ofWorker) return;
    this.handed.delete(worker);
    for (const socket of ofWorker.values()) this.hand(socket);
    this.checkSettled();
  }

  /** Resolves once every connection handed out is taken and none waits, or after `ms`. */
  settled(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.log(`boards-storage: ${this.pending()} connections were not taken by a worker within ${ms} ms`);
        resolve();
      }, ms);
      this.settle = () => { clearTimeout(timer); resolve(); };
      this.checkSettled();
    });
  }

  /** Stopping: what waits, and whatever comes back, is answered 503. */
  refuseAll(): void {
    this.refusing = true;
    for (const socket of this.waiting.splice(0)) refuse(socket);
  }

  private pending(): number {
    let count = this.waiting.length;
    for (const ofWorker of this.handed.values()) count += ofWorker.size;
    return count;
  }

  private checkSettled(): void {
    if (this.settle && this.pending() === 0) {
      const settle = this.settle;
      this.settle = undefined;
      settle();
    }
  }

  private next(): Worker | undefined {
    while (this.serving.length > 0) {
      const worker = this.serving[this.turn++ % this.serving.length]!;
      if (worker.isConnected()) return worker;
      this.leave(worker);
    }
    return undefined;
  }
}

/** A connection no worker can take: a whole HTTP answer, then the connection closes (the client may try again). */
function refuse(socket: Socket): void {
  const body = JSON.stringify(errorBody('SERVER_BUSY', 'the service is stopping or restarting its workers; retry shortly'));
  socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${body}`);
}
