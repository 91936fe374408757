import { randomUUID } from 'node:crypto';
import type { Worker } from 'node:worker_threads';

/**
 * SHA-256 on a worker thread, so that hashing a large download overlaps with the main thread's
 * socket writes instead of adding to them (hashing 1 GiB costs about 0.85 s of CPU here). Bytes in
 * a SharedArrayBuffer are hashed where they lie; others are copied into the message. One worker
 * serves every hash of the process, in the order they were sent (its messages are FIFO).
 */

const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  try {
    if (m.op === 'update') {
      let hash = hashes.get(m.id);
      if (!hash) hashes.set(m.id, hash = createHash('sha256'));
      hash.update(new Uint8Array(m.buffer, m.offset, m.length));
      parentPort.postMessage({ seq: m.seq });
    } else if (m.op === 'digest') {
      const hash = hashes.get(m.id) ?? createHash('sha256');
      hashes.delete(m.id);
      parentPort.postMessage({ seq: m.seq, digest: hash.digest('hex') });
    } else {
      hashes.delete(m.id);
    }
  } catch (error) {
    parentPort.postMessage({ seq: m.seq, error: String(error && error.message || error) });
  }
});
`;

interface Reply {
  seq: number;
  digest?: string;
  error?: string;
}

class HashWorker {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  private seq = 0;
  private failed: Error | undefined;
  /** Hashes under way: the worker keeps the process alive only while there are some. */
  private users = 0;

  constructor() {
    // node:worker_threads loads with the first hash sent here, not with the package.
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    this.worker = new Worker(SOURCE, { eval: true, name: 'boards-storage sha256' });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const waiter = this.waiting.get(reply.seq);
      this.waiting.delete(reply.seq);
      if (reply.error !== undefined) waiter?.reject(new Error(`hashing thread: ${reply.error}`));
      else waiter?.resolve(reply);
    });
    const fail = (error: Error) => {
      this.failed = error;
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
      if (shared === this) shared = undefined;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the hashing thread exited (code ${code})`)));
  }

  send(message: { op: 'update' | 'digest' | 'drop'; id: string; buffer?: ArrayBufferLike; offset?: number; length?: number }): Promise<Reply> {
    if (this.failed) return Promise.reject(this.failed);
    const seq = ++this.seq;
    const reply = new Promise<Reply>((resolve, reject) => this.waiting.set(seq, { resolve, reject }));
    this.worker.postMessage({ ...message, seq });
    return reply;
  }

  open(): void {
    if (this.users++ === 0) this.worker.ref();
  }

  close(): void {
    if (--this.users === 0) this.worker.unref();
  }
}

let shared: HashWorker | undefined;

/** One SHA-256 computed on the hashing thread: `update` in order, then `digest` once. */
export class ThreadHash {
  private readonly id = randomUUID();
  private readonly worker: HashWorker;
  private done = false;

  constructor() {
    this.worker = shared ??= new HashWorker();
    this.worker.open();
  }

  /**
   * Hash `bytes`; resolves once they have been hashed, after which a SharedArrayBuffer behind them
   * may be reused. Other bytes are copied into the message at once.
   */
  async update(bytes: Uint8Array): Promise<void> {
    const shares = typeof SharedArrayBuffer !== 'undefined' && bytes.buffer instanceof SharedArrayBuffer;
    const buffer = shares ? bytes.buffer : bytes.slice().buffer;
    await this.worker.send({ op: 'update', id: this.id, buffer, offset: shares ? bytes.byteOffset : 0, length: bytes.byteLength });
  }

  /** The hex digest of every byte passed to update (after all of them were hashed). */
  async digest(): Promise<string> {
    try {
      const reply = await this.worker.send({ op: 'digest', id: this.id });
      return reply.digest!;
    } finally {
      this.finish();
    }
  }

  /** Give up on the hash (a download that stopped): the thread forgets it. */
  abandon(): void {
    if (this.done) return;
    this.finish();
    this.worker.send({ op: 'drop', id: this.id }).catch(() => undefined); // a thread that has gone holds nothing to drop
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.worker.close();
  }
}
