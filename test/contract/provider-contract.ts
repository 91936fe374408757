/**
 * The provider contract: one suite, run against every provider (memory, local, s3, gcs, supabase).
 * A provider file calls `runProviderContract` with a way to make the provider; everything here
 * asserts outcomes against the real backend.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { NotFoundError, StorageError } from '../../src/errors.ts';
import { encodeCursor } from '../../src/providers/list-cursor.ts';
import type { StorageProvider } from '../../src/providers/provider.ts';

export interface ContractTarget {
  name: string;
  /** Why the whole suite cannot run here (no server configured); it is then skipped loudly. */
  skip?: string | undefined;
  create(): Promise<StorageProvider>;
  /** How presigned URLs are proven: over HTTP, or with the verifier for self-signing providers. */
  presign: { kind: 'fetch' } | { kind: 'verify'; verify(url: string, method: string): unknown };
  /** Checks this backend cannot make, with the reason (an emulator's gap). */
  skipChecks?: Partial<Record<ContractCheck, string>>;
  /**
   * Peak RSS growth allowed while streaming the large object; default 128 MiB. V8 collects
   * Buffers only after ~64 MB of external memory has accumulated, so the object must be much
   * larger than that for the check to tell streaming from buffering.
   */
  maxRssGrowthBytes?: number;
  /** Size of the large streamed object; default 256 MiB. */
  largeObjectBytes?: number;
}

export type ContractCheck =
  | 'bounded-memory' | 'presigned-download' | 'presigned-upload' | 'presigned-tamper' | 'copy' | 'range-unsatisfiable';

const MiB = 1024 * 1024;

export function runProviderContract(target: ContractTarget): void {
  // A skipped describe never runs its body, so the warning is printed here.
  if (target.skip) console.warn(`\n*** SKIPPED provider contract for ${target.name}: ${target.skip} ***\n`);
  describe(`provider contract: ${target.name}`, { skip: target.skip ?? false }, () => {
    let provider: StorageProvider;
    const prefix = `contract-${randomUUID().slice(0, 8)}`;
    const key = (name: string) => `${prefix}/${name}`;
    const skipped = (check: ContractCheck) => target.skipChecks?.[check] ?? false;

    before(async () => {
      provider = await target.create();
    });
    after(async () => {
      // Leave nothing behind on a shared backend.
      let cursor: string | undefined;
      do {
        const page = await provider.list(`${prefix}/`, { limit: 1000, ...(cursor ? { cursor } : {}) });
        await Promise.all(page.items.map((item) => provider.delete(item.key)));
        cursor = page.nextCursor;
      } while (cursor);
      await provider.close?.();
    });

    it('stores bytes and reads them back with their metadata', async () => {
      const bytes = Buffer.from('hello contract \u00e9\u6f22');
      const metadata: Record<string, string> = { 'artifact-id': 'a1', note: 'plain ascii' };
      await provider.upload(key('bytes.txt'), chunksOf(bytes, 5, () => { metadata.sha256 = sha256(bytes); }), { contentType: 'text/plain', size: bytes.length, metadata });
      assert.deepEqual(await readAll(await provider.openDownload(key('bytes.txt'))), bytes);
      const meta = await provider.getMetadata(key('bytes.txt'));
      assert.equal(meta.key, key('bytes.txt'));
      assert.equal(meta.size, bytes.length);
      assert.equal(meta.contentType, 'text/plain');
      assert.equal(meta.metadata['artifact-id'], 'a1');
      assert.equal(meta.metadata.note, 'plain ascii');
      // Entries the manager adds once the content is consumed must be kept too.
      assert.equal(meta.metadata.sha256, sha256(bytes));
      assert.ok(!Number.isNaN(Date.parse(meta.lastModified)));
    });

    it('stores an empty object', async () => {
      await provider.upload(key('empty.bin'), chunksOf(Buffer.alloc(0), 1), { contentType: 'application/octet-stream', metadata: {} });
      assert.equal((await readAll(await provider.openDownload(key('empty.bin')))).length, 0);
      assert.equal((await provider.getMetadata(key('empty.bin'))).size, 0);
    });

    it(`streams a large object with bounded memory`, { skip: skipped('bounded-memory') }, async () => {
      const size = target.largeObjectBytes ?? 256 * MiB;
      const limit = target.maxRssGrowthBytes ?? 128 * MiB;
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 5);
      try {
        const written = createHash('sha256');
        await provider.upload(key('big.bin'), generated(size, written), { contentType: 'application/octet-stream', metadata: {} });
        const read = createHash('sha256');
        let count = 0;
        for await (const chunk of await provider.openDownload(key('big.bin'))) {
          read.update(chunk as Buffer);
          count += (chunk as Buffer).length;
        }
        assert.equal(count, size);
        assert.equal(read.digest('hex'), written.digest('hex'));
      } finally {
        clearInterval(sampler);
      }
      assert.ok(peak - baseline < limit, `RSS grew by ${((peak - baseline) / MiB).toFixed(1)} MiB streaming ${size / MiB} MiB (limit ${limit / MiB} MiB)`);
    });

    it('reads byte ranges, end inclusive', async () => {
      const bytes = Buffer.from('0123456789abcdefghij');
      await provider.upload(key('range.txt'), chunksOf(bytes, 7), { contentType: 'text/plain', metadata: {} });
      const read = async (start?: number, end?: number) => (await readAll(await provider.openDownload(key('range.txt'), { ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }) }))).toString();
      assert.equal(await read(2, 5), '2345');
      assert.equal(await read(0, 0), '0');
      assert.equal(await read(15), 'fghij');
      assert.equal(await read(undefined, 3), '0123');
      assert.equal(await read(18, 100), 'ij');
    });

    it('refuses a range that starts past the end', { skip: skipped('range-unsatisfiable') }, async () => {
      await provider.upload(key('short.txt'), chunksOf(Buffer.from('abc'), 3), { contentType: 'text/plain', metadata: {} });
      await assert.rejects(provider.openDownload(key('short.txt'), { start: 10 }), (e: unknown) => e instanceof StorageError && e.code === 'RANGE_NOT_SATISFIABLE');
    });

    it('answers exists and delete; delete is idempotent', async () => {
      const k = key('gone.txt');
      assert.equal(await provider.exists(k), false);
      await provider.upload(k, chunksOf(Buffer.from('x'), 1), { contentType: 'text/plain', metadata: {} });
      assert.equal(await provider.exists(k), true);
      assert.equal(await provider.delete(k), true);
      assert.equal(await provider.exists(k), false);
      assert.equal(await provider.delete(k), false);
    });

    it('throws NotFoundError for a missing key on every read', async () => {
      const k = key('never-stored.txt');
      await assert.rejects(provider.openDownload(k), NotFoundError);
      await assert.rejects(provider.getMetadata(k), NotFoundError);
      await assert.rejects(async () => {
        const stream = await provider.openDownload(k, { start: 0, end: 1 });
        await readAll(stream);
      }, NotFoundError);
    });

    it('keeps nothing when the content fails part-way', async () => {
      const k = key('failed.bin');
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield Buffer.alloc(1024, 1);
        yield Buffer.alloc(1024, 2);
        throw new Error('source broke');
      }
      await assert.rejects(provider.upload(k, failing(), { contentType: 'application/octet-stream', metadata: {} }));
      assert.equal(await provider.exists(k), false);
      const listed = await provider.list(`${prefix}/failed`, {});
      assert.deepEqual(listed.items, []);
    });

    it('lists by prefix, in key order, a page at a time', async () => {
      const names = ['l/a', 'l/b', 'l/c/1', 'l/c/2', 'l/d', 'l-sibling', 'l/e', 'l/f.x'];
      await Promise.all(names.map((n) => provider.upload(key(n), chunksOf(Buffer.from(n), 4), { contentType: 'text/plain', metadata: {} })));
      const expected = names.filter((n) => n.startsWith('l/')).map(key).sort();
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await provider.list(key('l/'), { limit: 3, ...(cursor ? { cursor } : {}) });
        assert.ok(page.items.length <= 3);
        for (const item of page.items) {
          assert.equal(typeof item.size, 'number');
          assert.ok(!Number.isNaN(Date.parse(item.lastModified)));
        }
        seen.push(...page.items.map((i) => i.key));
        cursor = page.nextCursor;
        pages++;
      } while (cursor && pages < 10);
      assert.deepEqual(seen, expected);
      assert.equal(pages, 3);
      // A plain string prefix, not only a folder.
      const partial = await provider.list(key('l'), { limit: 100 });
      assert.deepEqual(partial.items.map((i) => i.key), [...expected, key('l-sibling')].sort());
      // Resuming after any key.
      const resumed = await provider.list(key('l/'), { limit: 100, cursor: encodeCursor(key('l/c/1')) });
      assert.deepEqual(resumed.items.map((i) => i.key), expected.filter((k) => k > key('l/c/1')));
      assert.equal(resumed.nextCursor, undefined);
      // Sizes are the stored sizes.
      const sized = await provider.list(key('l/f'), {});
      assert.deepEqual(sized.items.map((i) => [i.key, i.size]), [[key('l/f.x'), 5]]);
    });

    it('writes many keys concurrently', async () => {
      const n = 16;
      const bodies = Array.from({ length: n }, (_, i) => Buffer.from(`concurrent body ${i} `.repeat(100 + i)));
      await Promise.all(bodies.map((b, i) => provider.upload(key(`c/${i}`), chunksOf(b, 333), { contentType: 'text/plain', metadata: { i: String(i) } })));
      for (let i = 0; i < n; i++) {
        assert.deepEqual(await readAll(await provider.openDownload(key(`c/${i}`))), bodies[i]);
        assert.equal((await provider.getMetadata(key(`c/${i}`))).metadata.i, String(i));
      }
    });

    it('signs download URLs that work and cannot be altered', { skip: skipped('presigned-download') }, async () => {
      const bytes = Buffer.from('signed download body');
      await provider.upload(key('signed.txt'), chunksOf(bytes, 8), { contentType: 'text/plain', metadata: {} });
      await provider.upload(key('other.txt'), chunksOf(Buffer.from('other'), 8), { contentType: 'text/plain', metadata: {} });
      const url = await provider.getPresignedDownloadUrl(key('signed.txt'), { expiresIn: 300 });
      assert.match(url, /^https?:\/\//);
      const swapped = url.replace('signed.txt', 'other.txt');
      if (target.presign.kind === 'fetch') {
        const response = await fetch(url);
        assert.equal(response.status, 200);
        assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes);
        if (!skipped('presigned-tamper')) assert.equal((await fetch(swapped)).status, 403);
      } else {
        target.presign.verify(url, 'GET');
        assert.throws(() => target.presign.kind === 'verify' && target.presign.verify(swapped, 'GET'));
        assert.throws(() => target.presign.kind === 'verify' && target.presign.verify(url, 'PUT'));
      }
    });

    it('signs upload URLs a client can use directly', { skip: skipped('presigned-upload') }, async () => {
      const k = key('direct-upload.txt');
      const upload = await provider.getPresignedUploadUrl(k, { contentType: 'text/plain', expiresIn: 300, maxSize: 1024 });
      assert.ok(upload.method === 'PUT' || upload.method === 'POST');
      assert.ok(Date.parse(upload.expiresAt) > Date.now());
      if (target.presign.kind === 'fetch') {
        const body = Buffer.from('uploaded directly');
        let response: Response;
        if (upload.method === 'POST') {
          const form = new FormData();
          for (const [name, value] of Object.entries(upload.fields ?? {})) form.append(name, value);
          form.append('file', new Blob([body], { type: 'text/plain' }));
          response = await fetch(upload.url, { method: 'POST', body: form });
        } else {
          response = await fetch(upload.url, { method: 'PUT', body, headers: upload.headers ?? {} });
        }
        assert.ok(response.status >= 200 && response.status < 300, `direct upload answered ${response.status}: ${await response.text()}`);
        assert.deepEqual(await readAll(await provider.openDownload(k)), body);
      } else {
        target.presign.verify(upload.url, 'PUT');
        assert.throws(() => target.presign.kind === 'verify' && target.presign.verify(upload.url, 'GET'));
      }
    });

    it('copies on the server side, metadata kept', { skip: skipped('copy') || false }, async (t) => {
      if (!provider.copy) {
        t.skip('provider has no copy');
        return;
      }
      const bytes = Buffer.from('copy me');
      await provider.upload(key('copy-src.txt'), chunksOf(bytes, 3), { contentType: 'text/plain', metadata: { origin: 'src' } });
      await provider.copy(key('copy-src.txt'), key('copy-dst.txt'));
      assert.deepEqual(await readAll(await provider.openDownload(key('copy-dst.txt'))), bytes);
      const meta = await provider.getMetadata(key('copy-dst.txt'));
      assert.equal(meta.contentType, 'text/plain');
      assert.equal(meta.metadata.origin, 'src');
    });

    it('answers a health check', async (t) => {
      if (!provider.health) {
        t.skip('provider has no health()');
        return;
      }
      await provider.health();
    });
  });
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The bytes as an async iterable of `size`-byte chunks; `onEnd` runs after the last one, as the manager's does. */
export async function* chunksOf(bytes: Uint8Array, size: number, onEnd?: () => void): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
  onEnd?.();
}

/** `size` bytes of fresh, non-repeating content in 1 MiB chunks, hashed into `hash` on the way. */
export async function* generated(size: number, hash?: ReturnType<typeof createHash>): AsyncGenerator<Uint8Array> {
  let produced = 0;
  let n = 0;
  while (produced < size) {
    const length = Math.min(MiB, size - produced);
    const chunk = Buffer.allocUnsafe(length);
    chunk.fill(n & 0xff);
    for (let i = 0; i + 8 <= length; i += 4096) chunk.writeUInt32BE(n, i);
    hash?.update(chunk);
    produced += length;
    n++;
    yield chunk;
  }
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
