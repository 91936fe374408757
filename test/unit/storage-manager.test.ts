import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { createStorageManager, registerProviderType, MemoryProvider, verifySignedUrl, StorageError, SecurityError, ValidationError, NotFoundError, ConfigError } from '../../src/index.ts';
import type { StorageConfigInput, StorageProvider } from '../../src/index.ts';
import { media } from '../fixtures/media.ts';
import { rebalance } from '../../src/lifecycle/rebalance.ts';
import { storedFiles, tempDir } from '../helpers.ts';
import { HOSTILE_IDS } from '../fixtures/hostile.ts';

const secret = 'manager-test-secret-0123456789abcdef';
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function localManager(extra: Partial<StorageConfigInput> = {}) {
  const dir = await tempDir('manager');
  const files = join(dir, 'files');
  const storage = await createStorageManager({ config: { data_dir: dir, signing_secret: secret, providers: { local: { type: 'local', config: { base_path: files } } }, ...extra }, env: {} });
  return { storage, files, dir };
}

describe('StorageManager on the local disk', () => {
  it('stores, reads, ranges, describes, lists and deletes an artifact', async () => {
    const { storage, files } = await localManager();
    const png = media.png(10_000);
    const ref = await storage.storeArtifact({ artifactId: 'avatar', artifactType: 'image', contentType: 'image/png', content: png, tenantId: 'user123', boardId: 'board456', metadata: { prompt: 'a red fox', seed: 42 } });
    assert.match(ref.storageKey, /^user123\/image\/board456\/avatar_\d{14}_[0-9a-f]{8}\/original\.png$/);
    assert.equal(ref.size, png.length);
    assert.equal(ref.sha256, sha(png));
    assert.equal(ref.visibility, 'private');
    assert.equal(ref.storageProvider, 'local');
    assert.deepEqual(Buffer.from(await storage.download(ref.storageKey)), png);
    const part: Buffer[] = [];
    for await (const c of await storage.openDownload(ref.storageKey, { start: 1, end: 3 })) part.push(c as Buffer);
    assert.deepEqual(Buffer.concat(part), png.subarray(1, 4));
    const info = await storage.getArtifact(ref.storageKey);
    assert.equal(info.sha256, ref.sha256);
    assert.deepEqual(info.metadata, { prompt: 'a red fox', seed: 42 });
    assert.equal(info.boardId, 'board456');
    assert.equal(info.createdAt, ref.createdAt);
    assert.equal(await storage.exists(ref.storageKey), true);
    const listed = await storage.listArtifacts({ tenantId: 'user123' });
    assert.deepEqual(listed.items.map((i) => i.storageKey), [ref.storageKey]);
    assert.deepEqual(await storedFiles(files), [ref.storageKey]);
    assert.equal(await storage.deleteArtifact(ref.storageKey), true);
    assert.equal(await storage.deleteArtifact(ref.storageKey), false);
    assert.equal(await storage.exists(ref.storageKey), false);
    await assert.rejects(storage.getArtifact(ref.storageKey), NotFoundError);
    await assert.rejects(storage.download(ref.storageKey), NotFoundError);
    assert.deepEqual((await storage.listArtifacts({ tenantId: 'user123' })).items, []);
    // The trash keeps the object until the purge, and undelete brings the artifact back whole.
    assert.deepEqual(await storedFiles(files), [ref.storageKey]);
    assert.deepEqual((await storage.listTrash({ tenantId: 'user123' })).items.map((i) => i.storageKey), [ref.storageKey]);
    assert.equal((await storage.undelete(ref.storageKey)).sha256, ref.sha256);
    assert.deepEqual(Buffer.from(await storage.download(ref.storageKey)), png);
    assert.equal(await storage.deleteArtifact(ref.storageKey, undefined, { permanent: true }), true);
    assert.equal(await storage.exists(ref.storageKey), false);
    assert.deepEqual(await storedFiles(files), []);
    assert.deepEqual((await storage.listTrash({ tenantId: 'user123' })).items, []);
  });

  it('accepts every content form', async () => {
    const { storage } = await localManager();
    const text = 'the same words in every form';
    const forms = [
      Buffer.from(text), new Uint8Array(Buffer.from(text)), text, Readable.from([Buffer.from(text)]),
      new ReadableStream<Uint8Array>({ start(c) { c.enqueue(new TextEncoder().encode(text)); c.close(); } }),
      (async function* () { yield Buffer.from(text.slice(0, 5)); yield Buffer.from(text.slice(5)); })(),
    ];
    for (const content of forms) {
      const ref = await storage.storeArtifact({ artifactId: 'note', artifactType: 'text', contentType: 'text/plain', content });
      assert.equal(Buffer.from(await storage.download(ref.storageKey)).toString(), text);
    }
  });

  it('refuses hostile ids before anything is written, naming the field', async () => {
    const { storage, files } = await localManager();
    for (const field of ['tenantId', 'boardId', 'artifactId', 'artifactType', 'variant'] as const) {
      for (const [, id] of HOSTILE_IDS) {
        await assert.rejects(
          storage.storeArtifact({ artifactId: 'a', artifactType: 'text', contentType: 'text/plain', content: 'x', [field]: id }),
          (e: unknown) => e instanceof SecurityError && e.message.startsWith(field),
        );
      }
    }
    for (const key of ['../../etc/passwd', '/etc/passwd', 'a/../../b', 'a\\..\\b', '%2e%2e/x', 'a/b\u0000c']) {
      await assert.rejects(storage.download(key), SecurityError);
      await assert.rejects(storage.getArtifact(key), SecurityError);
      await assert.rejects(storage.deleteArtifact(key), SecurityError);
      await assert.rejects(storage.getDownloadUrl(key), SecurityError);
    }
    assert.deepEqual(await storedFiles(files), []);
  });

  it('stops an oversize stream early and leaves nothing on disk', async () => {
    const { storage, files } = await localManager({ max_file_size: '1MB' });
    let produced = 0;
    async function* big() { while (produced < 64 * 1024 * 1024) { produced += 65536; yield Buffer.alloc(65536, 1); } }
    await assert.rejects(storage.storeArtifact({ artifactId: 'big', artifactType: 'model', contentType: 'application/octet-stream', content: big() }), (e: unknown) => e instanceof ValidationError && e.code === 'CONTENT_TOO_LARGE' && e.status === 413);
    assert.ok(produced <= 1024 * 1024 + 65536, `read ${produced} bytes past a 1 MiB limit`);
    await assert.rejects(storage.storeArtifact({ artifactId: 'big', artifactType: 'model', contentType: 'application/octet-stream', content: Buffer.alloc(10), size: 2 * 1024 * 1024 }), (e: unknown) => e instanceof ValidationError && e.code === 'CONTENT_TOO_LARGE');
    assert.deepEqual(await storedFiles(files), []);
  });

  it('refuses undeclared, disallowed and lying content types with nothing left behind', async () => {
    const { storage, files } = await localManager();
    const cases: [string, unknown, string][] = [
      ['', 'x', 'CONTENT_TYPE_NOT_ALLOWED'],
      ['not a type', 'x', 'CONTENT_TYPE_NOT_ALLOWED'],
      ['text/html', '<script>', 'CONTENT_TYPE_NOT_ALLOWED'],
      ['application/x-msdownload', media.pe(), 'CONTENT_TYPE_NOT_ALLOWED'],
      ['image/png', media.jpeg(), 'CONTENT_MISMATCH'],
      ['image/png', 'plain text', 'CONTENT_MISMATCH'],
      ['video/mp4', media.webm(), 'CONTENT_MISMATCH'],
      ['application/octet-stream', media.elf(), 'CONTENT_MISMATCH'],
      ['text/plain', Buffer.from([0xff, 0xfe, 0x00]), 'CONTENT_MISMATCH'],
      ['application/json', '{oops', 'CONTENT_MISMATCH'],
    ];
    // Each under the artifact type its content type belongs to, so that the content is what is refused.
    const typeFor = (contentType: string) => /^(image|video|audio)\//.exec(contentType)?.[1] ?? (contentType === 'application/octet-stream' ? 'model' : 'text');
    for (const [contentType, content, code] of cases) {
      await assert.rejects(storage.storeArtifact({ artifactId: 'a', artifactType: typeFor(contentType), contentType, content: content as string }), (e: unknown) => e instanceof ValidationError && e.code === code, `${contentType}`);
    }
    const statusOf = await storage.storeArtifact({ artifactId: 'a', artifactType: 'text', contentType: 'text/html', content: 'x' }).catch((e: StorageError) => e.status);
    assert.equal(statusOf, 415);
    assert.deepEqual(await storedFiles(files), []);
  });

  it('leaves nothing when the caller aborts or the source fails mid-stream', async () => {
    const { storage, files } = await localManager();
    const controller = new AbortController();
    async function* slow() { yield Buffer.alloc(100_000, 1); controller.abort(); yield Buffer.alloc(100_000, 2); yield Buffer.alloc(100_000, 3); }
    await assert.rejects(storage.storeArtifact({ artifactId: 'a', artifactType: 'model', contentType: 'application/octet-stream', content: slow(), signal: controller.signal }), StorageError);
    const broken = new Readable({ read() { this.push(Buffer.alloc(70_000, 1)); this.destroy(new Error('client went away')); } });
    await assert.rejects(storage.storeArtifact({ artifactId: 'a', artifactType: 'model', contentType: 'application/octet-stream', content: broken }), StorageError);
    assert.deepEqual(await storedFiles(files), []);
  });

  it('stores public artifacts with a public URL and signs private ones', async () => {
    const { storage } = await localManager({ providers: { local: { type: 'local', config: { base_path: join(await tempDir('pub'), 'f'), public_url_base: 'https://cdn.example.com/assets', serve_url_base: 'https://storage.example.com' } } } });
    const pub = await storage.storeArtifact({ artifactId: 'p', artifactType: 'image', contentType: 'image/gif', content: media.gif(), visibility: 'public' });
    assert.equal(pub.storageUrl, `https://cdn.example.com/assets/${pub.storageKey}`);
    const priv = await storage.storeArtifact({ artifactId: 'q', artifactType: 'image', contentType: 'image/gif', content: media.gif() });
    assert.equal(priv.storageUrl, `local://${priv.storageKey}`);
    const url = await storage.getDownloadUrl(priv.storageKey, undefined, { expiresIn: 60, filename: 'fox.gif' });
    assert.ok(url.startsWith(`https://storage.example.com/v1/signed/${priv.storageKey}?`));
    assert.equal(verifySignedUrl(url, 'GET', secret).filename, 'fox.gif');
    assert.throws(() => verifySignedUrl(url.replace('m=GET', 'm=PUT'), 'PUT', secret), SecurityError);
    assert.throws(() => verifySignedUrl(url, 'GET', secret, Date.now() + 61_000), (e: unknown) => e instanceof SecurityError && e.code === 'ACCESS_DENIED');
    const urls = await storage.getDownloadUrls([pub.storageKey, priv.storageKey], undefined, { expiresIn: 60 });
    assert.deepEqual(urls.map((u) => verifySignedUrl(u, 'GET', secret).key), [pub.storageKey, priv.storageKey]);
    await assert.rejects(storage.getDownloadUrl(priv.storageKey, undefined, { expiresIn: 0 }), ValidationError);
    await assert.rejects(storage.getDownloadUrl(priv.storageKey, undefined, { filename: 'a"b' }), ValidationError);
    const upload = await storage.getUploadUrl({ artifactId: 'up', artifactType: 'video', contentType: 'video/mp4', size: 5000, boardId: 'b' });
    assert.equal(upload.method, 'PUT');
    const claims = verifySignedUrl(upload.url, 'PUT', secret);
    assert.equal(claims.maxSize, 5000);
    assert.equal(claims.contentType, 'video/mp4');
    assert.equal(claims.key, upload.storageKey);
    await assert.rejects(storage.getUploadUrl({ artifactId: 'up', artifactType: 'video', contentType: 'text/html' }), ValidationError);
  });

  it('lists a tenant page by page with filters, never another tenant', async () => {
    const { storage } = await localManager();
    const stored: string[] = [];
    for (let i = 0; i < 7; i++) stored.push((await storage.storeArtifact({ artifactId: `img${i}`, artifactType: 'image', boardId: i % 2 ? 'odd' : 'even', contentType: 'image/gif', content: media.gif(), tenantId: 'alice' })).storageKey);
    for (let i = 0; i < 3; i++) stored.push((await storage.storeArtifact({ artifactId: `txt${i}`, artifactType: 'text', contentType: 'text/plain', content: `t${i}`, tenantId: 'alice' })).storageKey);
    await storage.storeArtifact({ artifactId: 'secret', artifactType: 'image', boardId: 'odd', contentType: 'image/gif', content: media.gif(), tenantId: 'bob' });
    const all: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await storage.listArtifacts({ tenantId: 'alice', limit: 4, ...(cursor ? { cursor } : {}) });
      all.push(...page.items.map((i) => i.storageKey));
      cursor = page.nextCursor;
    } while (cursor);
    assert.deepEqual(all, [...stored].sort());
    const odd = await storage.listArtifacts({ tenantId: 'alice', boardId: 'odd' });
    assert.deepEqual(odd.items.map((i) => i.artifactId).sort(), ['img1', 'img3', 'img5']);
    const texts = await storage.listArtifacts({ tenantId: 'alice', artifactType: 'text' });
    assert.equal(texts.items.length, 3);
    const evenImages = await storage.listArtifacts({ tenantId: 'alice', artifactType: 'image', boardId: 'even', limit: 2 });
    assert.equal(evenImages.items.length, 2);
    assert.ok(evenImages.nextCursor);
    assert.deepEqual((await storage.listArtifacts({ tenantId: 'alice', prefix: 'text/' })).items.length, 3);
    assert.deepEqual((await storage.listArtifacts({ tenantId: 'alice', artifactType: 'image', prefix: 'text/' })).items, []);
    assert.ok((await storage.listArtifacts({ tenantId: 'bob' })).items.every((i) => i.tenantId === 'bob'));
    await assert.rejects(storage.listArtifacts({ tenantId: '../bob' }), SecurityError);
    await assert.rejects(storage.listArtifacts({ tenantId: 'alice', cursor: '!!' }), ValidationError);
  });
});

describe('routing', () => {
  it('sends each artifact to the first matching rule, and finds it there again', async () => {
    const dir = await tempDir('routing');
    const storage = await createStorageManager({
      config: {
        data_dir: dir, signing_secret: secret, default_provider: 'disk',
        providers: { disk: { type: 'local', config: { base_path: join(dir, 'disk') } }, videos: { type: 'memory' }, big: { type: 'memory' }, vip: { type: 'memory' } },
        routing_rules: [
          { condition: { tenant_id: 'vip-tenant' }, provider: 'vip' },
          { condition: { content_type: 'video/*' }, provider: 'videos' },
          { condition: { artifact_type: ['lora', 'checkpoint'], size_gt: '1KB' }, provider: 'big' },
        ],
      }, env: {},
    });
    const store = (over: Record<string, unknown>) => storage.storeArtifact({ artifactId: 'a', artifactType: 'image', contentType: 'image/gif', content: media.gif(), ...over } as never);
    assert.equal((await store({ tenantId: 'vip-tenant' })).storageProvider, 'vip');
    const video = await store({ artifactType: 'video', contentType: 'video/webm', content: media.webm() });
    assert.equal(video.storageProvider, 'videos');
    assert.equal((await store({ artifactType: 'lora', contentType: 'application/octet-stream', content: Buffer.alloc(4096), size: 4096 })).storageProvider, 'big');
    assert.equal((await store({ artifactType: 'lora', contentType: 'application/octet-stream', content: Buffer.alloc(100), size: 100 })).storageProvider, 'disk');
    assert.equal((await store({ artifactType: 'lora', contentType: 'application/octet-stream', content: Readable.from([Buffer.alloc(4096)]) })).storageProvider, 'disk', 'a stream of unknown length matches no size rule');
    assert.equal((await store({})).storageProvider, 'disk');
    assert.equal((await storage.getArtifact(video.storageKey)).storageProvider, 'videos');
    assert.deepEqual(Buffer.from(await storage.download(video.storageKey)), media.webm());
    const listed = await storage.listArtifacts({ tenantId: 'default' });
    assert.deepEqual(listed.items.map((i) => i.storageProvider).sort(), ['big', 'disk', 'disk', 'disk', 'videos']);
    await storage.close();
  });

  it('routes in-memory content (Buffer, Uint8Array, string) by its length without a size hint, so rebalance has nothing to move', async () => {
    const dir = await tempDir('routing-size');
    const storage = await createStorageManager({
      config: {
        data_dir: dir, signing_secret: secret, default_provider: 'small',
        providers: { small: { type: 'local', config: { base_path: join(dir, 'small') } }, large: { type: 'local', config: { base_path: join(dir, 'large') } } },
        routing_rules: [{ condition: { size_gt: '1MB' }, provider: 'large' }],
      }, env: {},
    });
    after(() => storage.close());
    const store = (content: unknown) => storage.storeArtifact({ artifactId: 'w', artifactType: 'model', contentType: 'application/octet-stream', content: content as Uint8Array });
    const twoMiB = 2 * 1024 * 1024;
    assert.equal((await store(Buffer.alloc(twoMiB, 1))).storageProvider, 'large');
    assert.equal((await store(new Uint8Array(twoMiB))).storageProvider, 'large');
    assert.equal((await storage.storeArtifact({ artifactId: 't', artifactType: 'text', contentType: 'text/plain', content: 'x'.repeat(twoMiB) })).storageProvider, 'large');
    assert.equal((await store(Buffer.alloc(1024))).storageProvider, 'small');
    assert.equal((await rebalance(storage, { dryRun: true })).moves.length, 0);
  });
});

describe('custom providers', () => {
  it('makes a registered type usable in configuration and accepts instances at run time', async () => {
    const made: Record<string, unknown>[] = [];
    registerProviderType('test-custom', (config) => {
      made.push(config);
      return new MemoryProvider({ signing_secret: secret });
    });
    const storage = await createStorageManager({ config: { data_dir: await tempDir('custom'), default_provider: 'mine', providers: { mine: { type: 'test-custom', config: { region: 'eu' } } } }, env: {} });
    assert.deepEqual(made, [{ region: 'eu' }]);
    const ref = await storage.storeArtifact({ artifactId: 'a', artifactType: 'text', contentType: 'text/plain', content: 'custom' });
    assert.equal(ref.storageProvider, 'mine');
    storage.registerProvider('late', new MemoryProvider());
    assert.deepEqual(storage.providerNames(), ['mine', 'late']);
    assert.throws(() => storage.registerProvider('bad name!', new MemoryProvider()), ConfigError);
    assert.throws(() => storage.registerProvider('incomplete', { upload() {} } as unknown as StorageProvider), ConfigError);
  });

  it('refuses a provider that returns before reading the content, keeping nothing', async () => {
    const inner = new MemoryProvider();
    const lazy: StorageProvider = Object.assign(Object.create(inner) as StorageProvider, {
      async upload(key: string) {
        await inner.upload(key, (async function* () { yield Buffer.from('partial'); })(), { contentType: 'text/plain', metadata: {} });
        return {};
      },
    });
    const storage = await createStorageManager({ config: { data_dir: await tempDir('lazy'), default_provider: 'lazy', providers: { lazy: { type: 'memory' } } }, env: {} });
    storage.registerProvider('lazy', lazy);
    await assert.rejects(storage.storeArtifact({ artifactId: 'a', artifactType: 'text', contentType: 'text/plain', content: 'x'.repeat(10_000) }), /before reading the whole content/);
    assert.deepEqual((await inner.list('')).items, []);
  });
});

describe('temporary files', () => {
  it('keeps a job\'s intermediates under temp/{jobId}/ with an expiry, and deletes them by job', async () => {
    const { storage, files } = await localManager({ cleanup: { temp_file_ttl_hours: 2 } });
    const before = Date.now();
    const a = await storage.storeTempFile({ jobId: 'job-1', name: 'frame_001.png', contentType: 'image/png', content: media.png() });
    await storage.storeTempFile({ jobId: 'job-1', name: 'notes.txt', contentType: 'text/plain', content: 'intermediate', tenantId: 'alice' });
    const other = await storage.storeTempFile({ jobId: 'job-2', name: 'notes.txt', contentType: 'text/plain', content: 'other job' });
    assert.equal(a.storageKey, 'temp/job-1/frame_001.png');
    const recorded = await storage.catalog.get(a.storageKey);
    assert.equal(recorded?.jobId, 'job-1');
    const ttl = Date.parse(recorded!.expiresAt!) - before;
    assert.ok(ttl > 1.9 * 3600_000 && ttl <= 2 * 3600_000 + 5000, `expires in ${ttl} ms`);
    await assert.rejects(storage.storeTempFile({ jobId: '../x', name: 'a.txt', contentType: 'text/plain', content: 'x' }), SecurityError);
    await assert.rejects(storage.storeTempFile({ jobId: 'job-1', name: 'lie.png', contentType: 'image/png', content: 'not a png' }), ValidationError);
    assert.equal(await storage.deleteJobTempFiles('job-1'), 2);
    assert.equal(await storage.deleteJobTempFiles('job-1'), 0);
    assert.deepEqual(await storedFiles(files), [other.storageKey]);
  });
});

describe('temporary files across tenants', () => {
  it('refuses a temp name another tenant holds, before touching its bytes, and deletes per tenant', async () => {
    const { storage } = await localManager();
    const theirs = await storage.storeTempFile({ jobId: 'shared-job', name: 'x.txt', contentType: 'text/plain', content: 'theirs', tenantId: 'alice' });
    await assert.rejects(storage.storeTempFile({ jobId: 'shared-job', name: 'x.txt', contentType: 'text/plain', content: 'mine', tenantId: 'bob' }), SecurityError);
    await assert.rejects(storage.storeTempFile({ jobId: 'shared-job', name: 'x.txt', contentType: 'text/plain', content: 'again', tenantId: 'alice' }), (e: unknown) => e instanceof StorageError && e.code === 'CONFLICT');
    assert.equal(Buffer.from(await storage.download(theirs.storageKey)).toString(), 'theirs');
    assert.equal(await storage.deleteJobTempFiles('shared-job', { tenantId: 'bob' }), 0);
    assert.equal(await storage.deleteJobTempFiles('shared-job', { tenantId: 'alice' }), 1);
  });
});

describe('provider extras', () => {
  it('signs many keys in one request where the provider batches, and moves objects whose visibility is physical', async () => {
    class BatchingProvider extends MemoryProvider {
      batches: string[][] = [];
      moves: string[] = [];
      async getPresignedDownloadUrls(keys: string[], opts: { expiresIn: number }): Promise<string[]> {
        this.batches.push(keys);
        return Promise.all(keys.map((key) => this.getPresignedDownloadUrl(key, opts)));
      }
      async setVisibility(key: string, visibility: 'private' | 'public'): Promise<{ url?: string }> {
        this.moves.push(`${key}:${visibility}`);
        return visibility === 'public' ? { url: `https://public.example.com/${key}` } : {};
      }
    }
    const { storage } = await localManager({ providers: { local: { type: 'local', config: { base_path: join(await tempDir('extras'), 'f') } }, batch: { type: 'memory' } }, default_provider: 'batch' });
    const batching = new BatchingProvider({ signing_secret: secret });
    storage.registerProvider('batch', batching);
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push((await storage.storeArtifact({ artifactId: `b${i}`, artifactType: 'text', contentType: 'text/plain', content: `b${i}` })).storageKey);
    const urls = await storage.getDownloadUrls(keys, undefined, { expiresIn: 60 });
    assert.deepEqual(batching.batches, [keys]);
    assert.deepEqual(urls.map((u) => verifySignedUrl(u, 'GET', secret).key), keys);
    const made = await storage.setVisibility(keys[0]!, 'public');
    assert.equal(made.storageUrl, `https://public.example.com/${keys[0]}`);
    assert.deepEqual(batching.moves, [`${keys[0]}:public`]);
    await storage.setVisibility(keys[0]!, 'public');
    assert.equal(batching.moves.length, 1, 'no move when nothing changes');
  });
});
