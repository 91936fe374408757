/**
 * The TUS upload the Supabase provider uses for large content, against a real TUS server:
 * @tus/server with its file store, the same server library and store Supabase Storage runs. Its
 * Location header names another scheme, host and path prefix, as Supabase's does behind proxies and
 * with NODE_ENV=production, so every test also proves the upload stays on the configured endpoint.
 * The provider itself sends content over its threshold only to the TUS endpoint, so its large
 * uploads run here too, end to end.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server as TusServer } from '@tus/server';
import { FileStore } from '@tus/file-store';
import type { DetailedError } from 'tus-js-client';
import { TusContentFailure, uploadThroughTus, uploadUrlOnEndpoint } from '../../src/providers/supabase-tus.ts';
import { SupabaseProvider } from '../../src/providers/supabase.ts';
import { StorageError } from '../../src/errors.ts';
import type { TusUploadRequest } from '../../src/providers/supabase-tus.ts';

const KiB = 1024;
const CHUNK = 256 * KiB;

/** A request as it arrived; `bytes` is its declared Content-Length. */
interface Seen { method: string; url: string; authorization: string | undefined; bytes: number; headerBytes: number; uploadLength: string | undefined; deferLength: string | undefined }

describe('TUS uploads against @tus/server', () => {
  let dir: string;
  let http: HttpServer;
  let endpoint: string;
  let seen: Seen[] = [];
  /** Refuse the next upload creation with this answer, as Supabase does for an existing key. */
  let refuseCreation: { status_code: number; body: string } | undefined;
  /** Stop answering every request after the creation, as a server that hangs does. */
  let hang = false;
  /** Answer this many PATCHes with a 503 before letting them through. */
  let failPatches = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'boards-tus-'));
    const tus = new TusServer({
      path: '/upload/resumable',
      datastore: new FileStore({ directory: dir }),
      // What a proxied or production Supabase answers: the wrong scheme, host, port and prefix.
      generateUrl: (_req, { path, id }) => `https://storage.example.invalid:8443/storage/v1${path}/${Buffer.from(id).toString('base64url')}`,
      getFileIdFromRequest: (req) => {
        const last = new URL(req.url).pathname.split('/').at(-1);
        return last && last !== 'resumable' ? Buffer.from(last, 'base64url').toString() : undefined;
      },
      onUploadCreate: async (_req, upload) => {
        if (refuseCreation) throw refuseCreation;
        return { metadata: upload.metadata ?? {} };
      },
    });
    http = createServer((req, res) => {
      const record: Seen = { method: req.method!, url: req.url!, authorization: req.headers.authorization, bytes: Number(req.headers['content-length'] ?? 0), headerBytes: req.rawHeaders.reduce((sum, part) => sum + Buffer.byteLength(part) + 2, 0), uploadLength: req.headers['upload-length'] as string | undefined, deferLength: req.headers['upload-defer-length'] as string | undefined };
      seen.push(record);
      if (hang && req.method !== 'POST') return;
      if (req.method === 'PATCH' && failPatches > 0) {
        failPatches--;
        req.resume();
        req.once('end', () => res.writeHead(503).end('busy'));
        return;
      }
      if (req.headers.authorization !== 'Bearer secret') {
        res.writeHead(401).end('no');
        return;
      }
      void tus.handle(req, res);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = http.address() as { port: number };
    endpoint = `http://127.0.0.1:${address.port}/upload/resumable`;
  });

  after(async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    seen = [];
    refuseCreation = undefined;
    hang = false;
    failPatches = 0;
  });

  const request = (content: AsyncIterable<Uint8Array>, overrides: Partial<TusUploadRequest> = {}): TusUploadRequest => ({
    endpoint,
    headers: { Authorization: 'Bearer secret' },
    metadata: { bucketName: 'boards', objectName: 't/a.bin', contentType: 'application/x-test', metadata: JSON.stringify({ note: 'ü' }) },
    chunkSize: CHUNK,
    head: [],
    iterator: content[Symbol.asyncIterator](),
    stallMs: 10_000,
    shouldRetry: () => false,
    stallError: (message) => new Error(message),
    ...overrides,
  });

  /** The uploads the store holds: id -> { bytes, info }. */
  async function stored(): Promise<Map<string, { bytes: Buffer; info: { size?: number; offset: number; metadata: Record<string, string> } }>> {
    const uploads = new Map<string, { bytes: Buffer; info: { size?: number; offset: number; metadata: Record<string, string> } }>();
    for (const name of await readdir(dir)) {
      if (name.endsWith('.json')) continue;
      uploads.set(name, { bytes: await readFile(join(dir, name)), info: JSON.parse(await readFile(join(dir, `${name}.json`), 'utf8')) });
    }
    return uploads;
  }

  async function clear(): Promise<void> {
    for (const name of await readdir(dir)) await rm(join(dir, name), { force: true });
  }

  it('streams content of unknown length in chunks of exactly the chunk size, with the metadata, on the configured endpoint', async () => {
    await clear();
    const bytes = randomBytes(3 * CHUNK + 12_345);
    await uploadThroughTus(request(pieces(bytes, 10_000)));
    const [upload, ...others] = [...(await stored()).values()];
    assert.equal(others.length, 0);
    assert.equal(sha(upload!.bytes), sha(bytes));
    assert.equal(upload!.info.size, bytes.length);
    assert.deepEqual(upload!.info.metadata, { bucketName: 'boards', objectName: 't/a.bin', contentType: 'application/x-test', metadata: '{"note":"ü"}' });
    // With the length deferred, the creation carries no data; then PATCHes of exactly CHUNK bytes, the last one shorter.
    assert.equal(seen[0]!.method, 'POST');
    assert.equal(seen[0]!.deferLength, '1');
    assert.deepEqual(seen.map((s) => [s.method, s.bytes]), [['POST', 0], ['PATCH', CHUNK], ['PATCH', CHUNK], ['PATCH', CHUNK], ['PATCH', 12_345]]);
    assert.ok(seen.every((s) => s.authorization === 'Bearer secret'));
    assert.ok(seen.slice(1).every((s) => s.method === 'PATCH' && s.url.startsWith('/upload/resumable/')), JSON.stringify(seen));
  });

  it('ends an upload of unknown length that is an exact number of chunks', async () => {
    await clear();
    const bytes = randomBytes(2 * CHUNK);
    await uploadThroughTus(request(pieces(bytes, CHUNK)));
    const [upload] = [...(await stored()).values()];
    assert.equal(sha(upload!.bytes), sha(bytes));
    assert.equal(upload!.info.size, bytes.length);
  });

  it('sends a chunk again after a failed PATCH, and the upload completes whole', async () => {
    await clear();
    failPatches = 2;
    const bytes = randomBytes(3 * CHUNK + 99);
    await uploadThroughTus(request(pieces(bytes, 50_000), { shouldRetry: () => true }));
    const [upload] = [...(await stored()).values()];
    assert.equal(sha(upload!.bytes), sha(bytes));
    assert.equal(seen.filter((s) => s.method === 'PATCH').length, 4 + 2);
  });

  it('declares the length up front when it is known, and sends the head already read first', async () => {
    await clear();
    const bytes = randomBytes(CHUNK + 7);
    const head = [bytes.subarray(0, 100), bytes.subarray(100, 5000)];
    await uploadThroughTus(request(pieces(bytes.subarray(5000), 4096), { head, size: bytes.length }));
    const [upload] = [...(await stored()).values()];
    assert.equal(sha(upload!.bytes), sha(bytes));
    assert.equal(seen[0]!.uploadLength, String(bytes.length));
    assert.equal(seen[0]!.deferLength, undefined);
  });

  it('terminates the upload on the server when the content fails, and says it was the content', async () => {
    await clear();
    const failing = async function* () {
      yield randomBytes(CHUNK);
      yield randomBytes(CHUNK);
      throw new Error('the generator crashed');
    };
    await assert.rejects(uploadThroughTus(request(failing())), (e: unknown) => e instanceof TusContentFailure && (e.reason as Error).message === 'the generator crashed');
    assert.deepEqual([...(await stored()).keys()], [], 'nothing of the upload is left in the store');
    assert.ok(seen.some((s) => s.method === 'DELETE'), 'the upload was terminated');
  });

  it('terminates the upload when the caller aborts', async () => {
    await clear();
    const controller = new AbortController();
    const slow = async function* () {
      yield randomBytes(CHUNK);
      yield randomBytes(CHUNK);
      controller.abort(new Error('caller gave up'));
      await new Promise((resolve) => setTimeout(resolve, 50));
      yield randomBytes(CHUNK);
    };
    await assert.rejects(uploadThroughTus(request(slow(), { signal: controller.signal })), (e: unknown) => e instanceof TusContentFailure && (e.reason as Error).message === 'caller gave up');
    assert.deepEqual([...(await stored()).keys()], []);
  });

  it('hands back the server refusal, and asks whether to retry it', async () => {
    await clear();
    refuseCreation = { status_code: 409, body: 'The resource already exists' };
    const asked: number[] = [];
    const error = await uploadThroughTus(request(pieces(randomBytes(2 * CHUNK), CHUNK), {
      shouldRetry: (e: DetailedError) => { asked.push(e.originalResponse?.getStatus() ?? 0); return false; },
    })).then(() => undefined, (e: unknown) => e as DetailedError);
    assert.equal(error?.originalResponse?.getStatus(), 409);
    assert.equal(error?.originalResponse?.getBody(), 'The resource already exists');
    assert.deepEqual(asked, [409]);
    assert.equal(seen.filter((s) => s.method === 'POST').length, 1);
    assert.deepEqual([...(await stored()).keys()], []);
  });

  it('gives up on a server that stops answering, without waiting on it to terminate', async () => {
    await clear();
    hang = true;
    const started = Date.now();
    await assert.rejects(uploadThroughTus(request(pieces(randomBytes(2 * CHUNK), CHUNK), { stallMs: 300 })), /no progress for 300 ms/);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.ok(seen.some((s) => s.method === 'PATCH'));
  });

  it('carries the provider\'s uploads over the threshold, with their metadata fitted into a header', async () => {
    await clear();
    const provider = new SupabaseProvider({ storage_url: endpoint.replace(/\/upload\/resumable$/, ''), key: 'secret', bucket: 'boards', tus_threshold: '1MB' }, { name: 'tus-test' });
    const bytes = randomBytes(1536 * KiB);
    await provider.upload('t/image/b/a_20260101000000_0123abcd/original.bin', pieces(bytes, 64 * KiB), {
      contentType: 'application/octet-stream',
      metadata: { 'artifact-id': 'a', prompt: 'p'.repeat(12 * KiB), visibility: 'private' },
    });
    const [upload, ...others] = [...(await stored()).values()];
    assert.equal(others.length, 0);
    assert.equal(sha(upload!.bytes), sha(bytes));
    assert.equal(upload!.info.metadata.bucketName, 'boards');
    assert.equal(upload!.info.metadata.objectName, 't/image/b/a_20260101000000_0123abcd/original.bin');
    assert.equal(upload!.info.metadata.cacheControl, '3600');
    // The 12 KiB prompt would take the request headers past what a Node server accepts: dropped.
    assert.deepEqual(JSON.parse(upload!.info.metadata.metadata!), { 'artifact-id': 'a', visibility: 'private' });
    // The request header sizes stayed well under 16 KiB.
    assert.ok(seen.every((s) => s.headerBytes < 12 * KiB), JSON.stringify(seen.map((s) => s.headerBytes)));
  });

  it('reports an existing key as CONFLICT at once, through the provider', async () => {
    await clear();
    refuseCreation = { status_code: 409, body: 'The resource already exists' };
    const provider = new SupabaseProvider({ storage_url: endpoint.replace(/\/upload\/resumable$/, ''), key: 'secret', bucket: 'boards', tus_threshold: '1MB' }, { name: 'tus-test' });
    await assert.rejects(provider.upload('t/dup.bin', pieces(randomBytes(1536 * KiB), 64 * KiB), { contentType: 'application/octet-stream', metadata: {} }), (e: unknown) => e instanceof StorageError && e.code === 'CONFLICT');
    assert.equal(seen.filter((s) => s.method === 'POST').length, 1, 'not retried');
  });

  it('never sends the credentials beyond the configured endpoint', async () => {
    // The server's wrong Location was followed in every test above only after being pinned: all
    // requests reached this server. Here the pinning itself, for each form of Location.
    assert.equal(uploadUrlOnEndpoint(endpoint, `${endpoint}/abc`), `${endpoint}/abc`);
    assert.equal(uploadUrlOnEndpoint(endpoint, endpoint), endpoint);
    assert.equal(uploadUrlOnEndpoint(`${endpoint}/`, 'https://evil.example/x/upload/resumable/dGVuYW50L2I='), `${endpoint}/dGVuYW50L2I=`);
    assert.equal(uploadUrlOnEndpoint(endpoint, 'http://127.0.0.1:8000/upload/resumable/YS9i/'), `${endpoint}/YS9i`);
    assert.throws(() => uploadUrlOnEndpoint(endpoint, 'https://evil.example/%2e%2e'), /will not follow/);
    assert.throws(() => uploadUrlOnEndpoint(endpoint, 'https://evil.example/'), /will not follow/);
  });
});

async function* pieces(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

function sha(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
