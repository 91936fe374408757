import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { open, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createStorageManager, MemoryProvider, ProviderUnavailableError, NotFoundError, ValidationError } from '../../src/index.ts';
import type { OpenFile, StorageConfigInput, UploadOptions } from '../../src/index.ts';
import { S3Provider } from '../../src/providers/s3.ts';
import { tempDir } from '../helpers.ts';

/** A memory provider that fails on cue: the next `failures[op]` calls of an operation are "down". */
class FlakyProvider extends MemoryProvider {
  readonly calls: Record<string, number> = {};
  failures: Record<string, number> = {};
  /** For upload: read this many chunks before failing (0: fail before reading). */
  chunksBeforeFailure = 0;
  hang = false;

  private async trip(op: string): Promise<void> {
    this.calls[op] = (this.calls[op] ?? 0) + 1;
    if (this.hang) await new Promise(() => undefined);
    if ((this.failures[op] ?? 0) > 0) {
      this.failures[op]!--;
      throw new ProviderUnavailableError(`flaky: ${op} is down`);
    }
  }

  override async upload(key: string, content: AsyncIterable<Uint8Array>, opts: UploadOptions): Promise<{ url?: string }> {
    if ((this.failures.upload ?? 0) > 0 && this.chunksBeforeFailure > 0) {
      let read = 0;
      for await (const _ of content) if (++read >= this.chunksBeforeFailure) break;
    }
    await this.trip('upload');
    return super.upload(key, content, opts);
  }

  override async exists(key: string): Promise<boolean> {
    await this.trip('exists');
    return super.exists(key);
  }

  override async getMetadata(key: string) {
    await this.trip('getMetadata');
    return super.getMetadata(key);
  }
}

async function managerWith(entry: Record<string, unknown>, extra: Partial<StorageConfigInput> = {}) {
  const dir = await tempDir('layers');
  const storage = await createStorageManager({ config: { data_dir: dir, signing_secret: 's'.repeat(32), default_provider: 'flaky', providers: { flaky: { type: 'memory', ...entry }, local: { type: 'local', config: { base_path: join(dir, 'files') } } }, ...extra }, env: {} });
  const flaky = new FlakyProvider();
  storage.registerProvider('flaky', flaky);
  after(() => storage.close());
  return { storage, flaky };
}

const store = (storage: Awaited<ReturnType<typeof managerWith>>['storage'], content: unknown = 'some words') =>
  storage.storeArtifact({ artifactId: 'a', artifactType: 'text', contentType: 'text/plain', content: content as string });

describe('retry layer', () => {
  const retry = { retry: { max_attempts: 4, base_delay_ms: 1, max_delay_ms: 5 } };

  it('retries an unavailable backend up to max_attempts in all, counting the first', async () => {
    const { storage, flaky } = await managerWith(retry);
    flaky.failures.upload = 3;
    await store(storage);
    assert.equal(flaky.calls.upload, 4);
    flaky.failures.upload = 4;
    flaky.calls.upload = 0;
    await assert.rejects(store(storage), ProviderUnavailableError);
    assert.equal(flaky.calls.upload, 4);
    assert.equal((await storage.metrics()).providers.flaky!.retries, 3 + 3);
  });

  it('never retries what retrying cannot fix', async () => {
    const { storage, flaky } = await managerWith(retry);
    await assert.rejects(storage.provider('flaky').getMetadata('nowhere/x.txt'), NotFoundError);
    assert.equal(flaky.calls.getMetadata, 1);
    await assert.rejects(storage.storeArtifact({ artifactId: 'a', artifactType: 'image', contentType: 'image/png', content: 'not a png' }), ValidationError);
    assert.equal(flaky.calls.upload, 1, 'the content was refused: one attempt');
  });

  it('does not resend a one-shot stream once a chunk of it has gone, but resends bytes', async () => {
    const { storage, flaky } = await managerWith(retry);
    flaky.failures.upload = 1;
    flaky.chunksBeforeFailure = 1;
    const stream = Readable.from([Buffer.from('first chunk '), Buffer.from('second chunk')]);
    await assert.rejects(store(storage, stream), ProviderUnavailableError);
    assert.equal(flaky.calls.upload, 1);
    flaky.failures.upload = 1;
    const ref = await store(storage, Buffer.from('in memory: can start again'));
    assert.equal(flaky.calls.upload, 3);
    assert.equal(Buffer.from(await storage.download(ref.storageKey)).toString(), 'in memory: can start again');
  });

  it('stops retrying when the total time cap is reached', async () => {
    const { storage, flaky } = await managerWith({ retry: { max_attempts: 10, base_delay_ms: 40, max_delay_ms: 40, max_total_ms: 100 } });
    flaky.failures.exists = 100;
    const started = Date.now();
    await assert.rejects(storage.provider('flaky').exists('k/x'), ProviderUnavailableError);
    // The cap stopped it, not max_attempts; the last attempt started within cap + one delay.
    assert.ok(flaky.calls.exists! >= 2 && flaky.calls.exists! < 10, `${flaky.calls.exists} attempts`);
    assert.ok(Date.now() - started < 100 + 40 + 150, `${Date.now() - started} ms`);
  });
});

describe('circuit breaker layer', () => {
  it('opens after consecutive failures, fails fast while open, and closes after a good probe', async () => {
    const { storage, flaky } = await managerWith({ circuit_breaker: { failure_threshold: 2, reset_timeout_ms: 150 } });
    const provider = storage.provider('flaky');
    flaky.failures.exists = 2;
    await assert.rejects(provider.exists('k/x'), ProviderUnavailableError);
    await assert.rejects(provider.exists('k/x'), ProviderUnavailableError);
    assert.equal((await storage.metrics()).providers.flaky!.breaker, 'open');
    const started = performance.now();
    await assert.rejects(provider.exists('k/x'), (e: unknown) => e instanceof ProviderUnavailableError && /circuit open/.test(e.message));
    assert.ok(performance.now() - started < 5, 'an open circuit answers at once');
    assert.equal(flaky.calls.exists, 2, 'the backend was not called while open');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await provider.exists('k/x'), false);
    assert.equal((await storage.metrics()).providers.flaky!.breaker, 'closed');
  });
});

describe('an open circuit breaker with retries, in front of a real backend that is down', () => {
  /** An S3 provider whose endpoint refuses connections; retries with a backoff of a second. */
  async function downS3(extra: Record<string, unknown> = {}) {
    const dir = await tempDir('breaker');
    const silent = createServer();
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    await new Promise((r) => silent.close(r)); // now nothing listens there: connections are refused
    const storage = await createStorageManager({ config: { data_dir: dir, default_provider: 's3', providers: {
      s3: { type: 's3', config: { bucket: 'down', endpoint: `http://127.0.0.1:${port}`, force_path_style: true, access_key_id: 'k', secret_access_key: 's', max_attempts: 1 }, retry: { max_attempts: 4, base_delay_ms: 1000, max_delay_ms: 1000 }, circuit_breaker: { failure_threshold: 1, reset_timeout_ms: 600_000 }, ...extra },
      local: { type: 'local', config: { base_path: join(dir, 'files') } },
    } }, env: {} });
    after(() => storage.close());
    const calls = async () => (await storage.metrics()).providers.s3?.operations.upload?.count ?? 0;
    return { storage, calls };
  }

  it('fails a store at once, with no call to the backend and no backoff, once the circuit is open', async () => {
    const { storage, calls } = await downS3();
    await assert.rejects(store(storage, Buffer.from('opens the circuit')), ProviderUnavailableError);
    assert.equal(await calls(), 1, 'one real call; its retry met the open circuit and stopped');
    assert.equal((await storage.metrics()).providers.s3!.breaker, 'open');
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await assert.rejects(store(storage, Buffer.from('refused by the open circuit')), (e: unknown) => e instanceof ProviderUnavailableError && /circuit open/.test(e.message));
      // Only to catch a wait through the retry backoff (a second here); bench/breaker.bench.ts has the figure.
      const ms = performance.now() - started;
      assert.ok(ms < 500, `an open circuit failed the store after ${ms.toFixed(0)} ms`);
    }
    assert.equal(await calls(), 1, 'the backend was not called while the circuit was open');
    assert.equal((await storage.metrics()).providers.s3!.retries, 1);
  });

  it('sends the store to the fallback at once while the circuit is open', async () => {
    const { storage, calls } = await downS3({ fallback: 'local' });
    assert.equal((await store(storage, Buffer.from('first'))).storageProvider, 'local');
    const started = performance.now();
    const ref = await store(storage, Buffer.from('second'));
    const ms = performance.now() - started;
    assert.equal(ref.storageProvider, 'local');
    assert.ok(ms < 500, `the fallback took the store after ${ms.toFixed(0)} ms`);
    assert.equal(await calls(), 1);
  });
});

describe('timeout layer', () => {
  it('cuts off an operation that never answers', async () => {
    const { storage, flaky } = await managerWith({ timeout_ms: 100 });
    flaky.hang = true;
    const started = Date.now();
    await assert.rejects(storage.provider('flaky').exists('k/x'), (e: unknown) => e instanceof ProviderUnavailableError && /timed out after 100 ms/.test(e.message));
    assert.ok(Date.now() - started < 1000);
  });

  it('closes what an operation hands back after it was cut off', async () => {
    const dir = await tempDir('late');
    const path = join(dir, 'late.bin');
    await writeFile(path, 'late bytes');
    const late: { handle?: FileHandle; stream?: Readable } = {};
    class LateProvider extends MemoryProvider {
      async openFile(): Promise<OpenFile> {
        await new Promise((r) => setTimeout(r, 300));
        late.handle = await open(path, 'r');
        return { handle: late.handle, start: 0, end: 9, size: 10 };
      }
      override async openDownload(): Promise<Readable> {
        await new Promise((r) => setTimeout(r, 300));
        late.stream = Readable.from([Buffer.from('late bytes')]);
        return late.stream;
      }
    }
    const { storage } = await managerWith({ timeout_ms: 100 });
    // Registered under the name the configuration gives the timeout layer.
    storage.registerProvider('flaky', new LateProvider());
    const provider = storage.provider('flaky') as LateProvider;
    await assert.rejects(provider.openFile(), (e: unknown) => e instanceof ProviderUnavailableError && /openFile timed out after 100 ms/.test(e.message));
    await assert.rejects(provider.openDownload(), (e: unknown) => e instanceof ProviderUnavailableError && /openDownload timed out after 100 ms/.test(e.message));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(late.handle?.fd, -1, 'the late file handle was closed');
    assert.equal(late.stream?.destroyed, true, 'the late stream was destroyed');
  });

  it('cuts off a real backend that accepts connections and never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => { sockets.push(socket); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    after(() => { for (const s of sockets) s.destroy(); silent.close(); });
    const port = (silent.address() as { port: number }).port;
    const dir = await tempDir('silent');
    const storage = await createStorageManager({ config: { data_dir: dir, default_provider: 's3', providers: { s3: { type: 's3', timeout_ms: 300, config: { bucket: 'silent-bucket', endpoint: `http://127.0.0.1:${port}`, force_path_style: true, access_key_id: 'k', secret_access_key: 's', request_timeout_ms: 60_000, max_attempts: 1 } } } }, env: {} });
    after(() => storage.close());
    assert.ok(storage.provider('s3') !== undefined && !(storage.provider('s3') instanceof S3Provider), 'the provider is layered');
    const started = Date.now();
    await assert.rejects(store(storage), (e: unknown) => e instanceof ProviderUnavailableError && /timed out after 300 ms/.test(e.message));
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
  });
});

describe('default timeouts', () => {
  it('bound every operation of a provider configured with no timeout (30 s)', async (t) => {
    const { storage, flaky } = await managerWith({});
    flaky.hang = true;
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const pending = assert.rejects(storage.provider('flaky').exists('k/x'), (e: unknown) => e instanceof ProviderUnavailableError && /exists timed out after 30000 ms/.test(e.message));
    await new Promise((r) => setImmediate(r));
    t.mock.timers.tick(30_000);
    await pending;
  });

  it('fail an upload the backend stops answering (upload_idle_timeout_ms), on a real server that accepts and never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => { sockets.push(socket); socket.resume(); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    after(() => { for (const s of sockets) s.destroy(); silent.close(); });
    const port = (silent.address() as { port: number }).port;
    const dir = await tempDir('idle');
    const storage = await createStorageManager({ config: { data_dir: dir, default_provider: 's3', providers: { s3: { type: 's3', upload_idle_timeout_ms: 300, config: { bucket: 'silent-bucket', endpoint: `http://127.0.0.1:${port}`, force_path_style: true, access_key_id: 'k', secret_access_key: 's', request_timeout_ms: 60_000, max_attempts: 1 } } } }, env: {} });
    after(() => storage.close());
    const started = Date.now();
    await assert.rejects(store(storage, Buffer.alloc(64 * 1024, 1)), (e: unknown) => e instanceof ProviderUnavailableError && /upload made no progress for 300 ms/.test(e.message));
    assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
  });

  it('do not count the time the content itself takes (a slow client) against the backend', async () => {
    const dir = await tempDir('slow-client');
    const slowStorage = await createStorageManager({ config: { data_dir: dir, signing_secret: 's'.repeat(32), default_provider: 'local', providers: { local: { type: 'local', upload_idle_timeout_ms: 100, config: { base_path: join(dir, 'files') } } } }, env: {} });
    after(() => slowStorage.close());
    async function* trickle() {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 250));
        yield Buffer.from(`part ${i} `);
      }
    }
    const ref = await store(slowStorage, trickle());
    assert.equal(Buffer.from(await slowStorage.download(ref.storageKey)).toString(), 'part 0 part 1 part 2 ');
  });
});

describe('fallback', () => {
  it('writes to the fallback while the routed provider is down, and records where the artifact is', async () => {
    const { storage, flaky } = await managerWith({ retry: { max_attempts: 2, base_delay_ms: 1, max_delay_ms: 2 }, fallback: 'local' });
    flaky.failures.upload = 100;
    const ref = await store(storage, Buffer.from('kept safe on the fallback'));
    assert.equal(ref.storageProvider, 'local');
    assert.equal((await storage.getArtifact(ref.storageKey)).storageProvider, 'local');
    assert.equal(Buffer.from(await storage.download(ref.storageKey)).toString(), 'kept safe on the fallback');
    assert.equal(flaky.calls.upload, 2);
    // A one-shot stream cannot be sent twice unless the provider spools it.
    await assert.rejects(store(storage, Readable.from([Buffer.from('stream')])), ProviderUnavailableError);
  });

  it('spools one-shot streams so they can fail over too, and cleans the spool up', async () => {
    const { storage, flaky } = await managerWith({ fallback: 'local', spool: true });
    flaky.failures.upload = 1;
    const ref = await store(storage, Readable.from([Buffer.from('streamed '), Buffer.from('and spooled')]));
    assert.equal(ref.storageProvider, 'local');
    assert.equal(Buffer.from(await storage.download(ref.storageKey)).toString(), 'streamed and spooled');
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(join(storage.config.dataDir, 'spool')), []);
  });

  it('refuses a fallback that is not a configured provider', async () => {
    await assert.rejects(managerWith({ fallback: 'nowhere' }), /storage\.providers\.flaky\.fallback: "nowhere" is not one of the configured providers/);
  });
});

describe('metrics', () => {
  it('reports counts, bytes, error codes, latency percentiles and utilisation', async () => {
    const { storage, flaky } = await managerWith({});
    for (let i = 0; i < 5; i++) await store(storage, `artifact number ${i}`);
    flaky.failures.exists = 1;
    await assert.rejects(storage.provider('flaky').exists('k/x'));
    const figures = await storage.metrics();
    const upload = figures.providers.flaky!.operations.upload!;
    assert.equal(upload.count, 5);
    assert.equal(upload.bytes, 5 * 'artifact number 0'.length);
    assert.ok(upload.latencyMs.p50 >= 0 && upload.latencyMs.p99 >= upload.latencyMs.p50);
    assert.deepEqual(figures.providers.flaky!.operations.exists!.errorsByCode, { PROVIDER_UNAVAILABLE: 1 });
    assert.equal(figures.providers.flaky!.operations.exists!.errorRate, 1);
    assert.deepEqual(figures.utilisation, [{ provider: 'flaky', tenantId: 'default', count: 5, bytes: 5 * 17 }]);
    const stream = await storage.openDownload((await storage.listArtifacts({})).items[0]!.storageKey);
    for await (const _ of stream) { /* drain */ }
    assert.equal((await storage.metrics()).providers.flaky!.operations.openDownload!.bytes, 17);
  });
});

