import type { Readable } from 'node:stream';
import { StorageError } from '../errors.ts';
import { wrapProvider } from './layer.ts';
import type { Layer, Operation } from './layer.ts';
import type { OpenFile } from '../providers/provider.ts';
import type { BreakerState } from './circuit-breaker.ts';

export interface OperationFigures {
  count: number;
  errors: number;
  errorRate: number;
  errorsByCode: Record<string, number>;
  /** Over the most recent calls (a window of 1024). */
  latencyMs: { p50: number; p95: number; p99: number };
  /** Bytes uploaded (upload) or downloaded (openDownload; openFile: as its caller reports them sent). */
  bytes: number;
}

export interface ProviderFigures {
  operations: Partial<Record<Operation, OperationFigures>>;
  retries: number;
  breaker?: BreakerState;
}

const WINDOW = 1024;

class OperationStats {
  count = 0;
  errors = 0;
  bytes = 0;
  readonly errorsByCode: Record<string, number> = {};
  private readonly latencies = new Float64Array(WINDOW);
  private filled = 0;
  private next = 0;

  observe(ms: number, error?: unknown): void {
    this.count++;
    this.latencies[this.next] = ms;
    this.next = (this.next + 1) % WINDOW;
    this.filled = Math.min(this.filled + 1, WINDOW);
    if (error !== undefined) {
      this.errors++;
      const code = error instanceof StorageError ? error.code : 'STORAGE_ERROR';
      this.errorsByCode[code] = (this.errorsByCode[code] ?? 0) + 1;
    }
  }

  figures(): OperationFigures {
    const sorted = Array.from(this.latencies.subarray(0, this.filled)).sort((a, b) => a - b);
    const at = (q: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 100) / 100 : 0);
    return { count: this.count, errors: this.errors, errorRate: this.count ? this.errors / this.count : 0, errorsByCode: { ...this.errorsByCode }, latencyMs: { p50: at(0.5), p95: at(0.95), p99: at(0.99) }, bytes: this.bytes };
  }
}

/** Figures per provider and operation, filled by each provider's metrics layer. */
export class MetricsRecorder {
  private readonly providers = new Map<string, { operations: Map<Operation, OperationStats>; retries: number; breaker?: () => BreakerState }>();

  /** The innermost layer of a provider: times every operation and counts its bytes. */
  layer(name: string): Layer {
    return (provider) => wrapProvider(provider, async (operation, run, first) => {
      const stats = this.stats(name, operation);
      const started = performance.now();
      try {
        const attempt = operation === 'upload' && first.content ? { ...first, content: counted(first.content, (n) => { stats.bytes += n; }) } : first;
        const result = await run(attempt);
        stats.observe(performance.now() - started);
        if (operation === 'openDownload') return countPushes(result as Readable, (n) => { stats.bytes += n; }) as typeof result;
        if (operation === 'openFile') return countSent(result as OpenFile, (n) => { stats.bytes += n; }) as typeof result;
        return result;
      } catch (error) {
        stats.observe(performance.now() - started, error);
        throw error;
      }
    });
  }

  retried(name: string): void {
    this.entry(name).retries++;
  }

  watchBreaker(name: string, state: () => BreakerState): void {
    this.entry(name).breaker = state;
  }

  snapshot(): Record<string, ProviderFigures> {
    return Object.fromEntries([...this.providers].map(([name, entry]) => [name, {
      operations: Object.fromEntries([...entry.operations].map(([op, stats]) => [op, stats.figures()])),
      retries: entry.retries,
      ...(entry.breaker ? { breaker: entry.breaker() } : {}),
    }]));
  }

  private entry(name: string) {
    let entry = this.providers.get(name);
    if (!entry) this.providers.set(name, entry = { operations: new Map(), retries: 0 });
    return entry;
  }

  private stats(name: string, operation: Operation): OperationStats {
    const operations = this.entry(name).operations;
    let stats = operations.get(operation);
    if (!stats) operations.set(operation, stats = new OperationStats());
    return stats;
  }
}

async function* counted(source: AsyncIterable<Uint8Array>, add: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    add(chunk.length);
    yield chunk;
  }
}

/**
 * Count a download's bytes as the provider's stream produces them, on that same stream: no stream
 * stage of its own (a byte-counting Transform cost a hop per chunk, and its own buffer), and the
 * caller still gets the provider's stream, so its errors and backpressure are the provider's own.
 * Bytes the stream holds already when it is handed over count too.
 */
function countPushes(stream: Readable, add: (n: number) => void): Readable {
  // In a byte stream readableLength is bytes (in an object-mode one it would be chunks).
  if (!stream.readableObjectMode && stream.readableLength > 0) add(stream.readableLength);
  const push = stream.push;
  stream.push = function countedPush(this: Readable, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (typeof chunk === 'string') add(Buffer.byteLength(chunk, encoding));
    else if (chunk instanceof Uint8Array) add(chunk.length);
    return push.call(this, chunk, encoding);
  };
  return stream;
}

/** Count the bytes the caller of openFile reports sent, keeping any count the file had already. */
function countSent(file: OpenFile, add: (n: number) => void): OpenFile {
  const inner = file.sent;
  return { ...file, sent: inner ? (n) => { add(n); inner(n); } : add };
}
