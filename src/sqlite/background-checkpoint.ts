import type { Worker } from 'node:worker_threads';
import type { DatabaseSync } from 'node:sqlite';

/**
 * A WAL database grows by every commit until a checkpoint copies its pages back into the database
 * file and flushes both files. SQLite runs that inside whichever commit crosses its threshold
 * (1000 pages), so every few hundred stores one commit on the main thread stalls for the copy and
 * two flushes (several ms here, about half the catalog's cost per store). A BackgroundCheckpointer
 * runs those checkpoints on a worker thread instead, with its own connection (PASSIVE: it never
 * waits for or blocks a writer). The main connection's own threshold is raised to a backstop, so
 * if the worker falls behind or fails, checkpoints return to the main thread rather than stop.
 */
export class BackgroundCheckpointer {
  private readonly path: string;
  private readonly connection: DatabaseSync;
  private readonly commitsPerCheckpoint: number;
  private commits = 0;
  private running: Promise<void> | undefined;
  private closed = false;

  /** `connection`: the main connection to `path`; commits on it are reported with `committed()`. */
  constructor(path: string, connection: DatabaseSync, options: { commitsPerCheckpoint: number }) {
    this.path = path;
    this.connection = connection;
    this.commitsPerCheckpoint = options.commitsPerCheckpoint;
    connection.exec(`PRAGMA wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  }

  /** Count one commit on the main connection; every so many, a checkpoint starts in the background. */
  committed(): void {
    if (++this.commits < this.commitsPerCheckpoint || this.running || this.closed) return;
    this.commits = 0;
    let request: Promise<void>;
    try {
      request = checkpointWorker().request('checkpoint', this.path);
    } catch {
      this.fallBack(); // no worker thread could be started
      return;
    }
    this.running = request.catch(() => this.fallBack()).finally(() => { this.running = undefined; });
  }

  /** Wait for a checkpoint under way and close the worker's connection (before the main one closes). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.running;
    // A worker that has gone has closed its connection with it; the main connection closes next either way.
    if (sharedWorker) await sharedWorker.request('close', this.path).catch(() => undefined);
  }

  /** The worker failed: SQLite's own checkpoints on the main connection take over again. */
  private fallBack(): void {
    this.closed = true;
    if (this.connection.isOpen) this.connection.exec(`PRAGMA wal_autocheckpoint = ${SQLITE_DEFAULT_PAGES}`);
  }
}

const SQLITE_DEFAULT_PAGES = 1000;
/** The main connection checkpoints itself only past this many pages (40 MB of 4 KiB pages). */
const BACKSTOP_PAGES = 10_000;

/** The worker's code: plain JavaScript, so it runs the same from the sources and from dist/. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const connections = new Map();
parentPort.on('message', ({ id, op, path }) => {
  let error;
  try {
    let db = connections.get(path);
    if (op === 'checkpoint') {
      if (!db) connections.set(path, db = new DatabaseSync(path));
      db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    } else {
      connections.delete(path);
      db?.close();
    }
  } catch (e) {
    error = String(e && e.message || e);
  }
  parentPort.postMessage({ id, error });
});
`;

/** One worker for every database of the process; it never keeps the process alive. */
class CheckpointWorker {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor() {
    // node:worker_threads loads with the first checkpoint, not with the package.
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 16 } });
    this.worker.on('message', ({ id, error }: { id: number; error?: string }) => {
      const request = this.waiting.get(id);
      this.waiting.delete(id);
      if (this.waiting.size === 0) this.worker.unref();
      if (error) request?.reject(new Error(error));
      else request?.resolve();
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const request of this.waiting.values()) request.reject(error);
      this.waiting.clear();
      if (sharedWorker === this) sharedWorker = undefined;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the checkpoint worker exited (${code})`)));
    // Idle, the worker never keeps the process alive; a request waiting for its answer does (so a
    // close awaited last in a program is answered). After the listeners: adding one refs it again.
    this.worker.unref();
  }

  request(op: 'checkpoint' | 'close', path: string): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, path });
    });
  }
}

let sharedWorker: CheckpointWorker | undefined;

function checkpointWorker(): CheckpointWorker {
  sharedWorker ??= new CheckpointWorker();
  return sharedWorker;
}
