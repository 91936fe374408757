/**
 * Bad configuration, bad credentials and unreachable servers, each against the real gateway (or a
 * real socket that refuses or never answers), mapped to the library's error types.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import {
  AccessDeniedError, ConfigError, InsufficientStorageError, NotFoundError, ProviderUnavailableError, StorageError, ValidationError,
} from '../../src/errors.ts';
import { S3Provider, encodeMetadata, decodeMetadata } from '../../src/providers/s3.ts';
import { fromS3Error } from '../../src/providers/s3-errors.ts';
import { chunksOf, readAll, sha256 } from '../contract/provider-contract.ts';
import { adminClient, createTestBucket, openMultipartUploads, providerConfig, removeTestBucket, s3SkipReason, setBucketQuota, warnSkipped } from './s3-test-server.ts';
import { generated } from '../contract/provider-contract.ts';

const put = (provider: S3Provider, key: string, body = 'x', metadata: Record<string, string> = {}) =>
  provider.upload(key, chunksOf(Buffer.from(body), 1024), { contentType: 'text/plain', metadata });

describe('s3 provider configuration', () => {
  const base = { bucket: 'some-bucket', endpoint: 'http://127.0.0.1:1', force_path_style: true };
  const rejects = (config: Record<string, unknown>, path: RegExp) =>
    assert.throws(() => new S3Provider(config as never, { name: 'media' }), (e: unknown) => e instanceof ConfigError && path.test(e.message));

  it('names the offending path', () => {
    rejects({ endpoint: 'http://127.0.0.1:1' }, /storage\.providers\.media\.config\.bucket/);
    rejects({ ...base, bucket: 'Not_A_Bucket' }, /config\.bucket: must be a valid S3 bucket name/);
    rejects({ ...base, access_key_id: 'AKIA' }, /config\.secret_access_key/);
    rejects({ ...base, kms_key_id: 'k' }, /config\.kms_key_id: needs server_side_encryption: aws:kms/);
    rejects({ ...base, part_size: '4MB' }, /config\.part_size: must be between 5 MiB/);
    rejects({ ...base, part_size: 'lots' }, /config\.part_size/);
    rejects({ ...base, prefix: '/leading' }, /config\.prefix/);
    rejects({ ...base, server_side_encryption: 'rot13' }, /config\.server_side_encryption/);
    rejects({ ...base, unknown_option: true }, /unknown_option|Unrecognized/);
  });

  it('accepts sizes with units and declares capabilities from the config', () => {
    const provider = new S3Provider({ ...base, part_size: '16MB', presigned_upload_method: 'put' });
    assert.deepEqual(provider.capabilities, {
      presignDownload: true, presignUpload: 'PUT', publicUrl: false, copy: true, selfSignedUrls: false,
      uploadChecksum: { algorithm: 'md5', partSize: 16 * 1024 * 1024 },   // the ETag is the MD5 (of part MD5s, for 16 MiB parts)
    });
    assert.equal(new S3Provider({ ...base, etag_is_md5: false }).capabilities.uploadChecksum, false, 'an ETag that is not the MD5 is not a checksum');
    assert.equal(provider.getPublicUrl('a/b.png'), undefined);
    const cdn = new S3Provider({ ...base, public_url_base: 'https://cdn.example.com/', prefix: 'boards' });
    assert.equal(cdn.capabilities.publicUrl, true);
    assert.equal(cdn.getPublicUrl('t/image/a.png'), 'https://cdn.example.com/boards/t/image/a.png');
    const aws = new S3Provider({ bucket: 'media-bucket', region: 'eu-west-1', acl: true });
    assert.equal(aws.getPublicUrl('a.png'), 'https://media-bucket.s3.eu-west-1.amazonaws.com/a.png');
  });
});

describe('s3 metadata encoding', () => {
  it('carries non-ASCII values and drops what S3 cannot hold, never sha256', () => {
    const encoded = encodeMetadata({ prompt: 'un café, 漢字', plain: 'ascii', 'Bad Name': 'x', ' padded': 'y', sha256: 'a'.repeat(64), 'user-metadata': 'u'.repeat(3000) });
    assert.equal(encoded.plain, 'ascii');
    assert.match(encoded.prompt!, /^=\?UTF-8\?B\?/);
    assert.equal(encoded['bad name'], undefined);
    assert.equal(encoded['user-metadata'], undefined, 'the oversize entry is dropped');
    assert.equal(encoded.sha256, 'a'.repeat(64));
    assert.equal(decodeMetadata(encoded).prompt, 'un café, 漢字');
    const total = Object.entries(encoded).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    assert.ok(total <= 2048);
  });

  it('maps S3 error names to the library types', () => {
    const ctx = { bucket: 'b', endpoint: 'http://e', what: 'storing k' };
    const sdk = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    assert.ok(fromS3Error(sdk('QuotaExceeded', 403), ctx) instanceof InsufficientStorageError);
    const tooLarge = fromS3Error(sdk('EntityTooLarge', 400), ctx);
    assert.ok(tooLarge instanceof ValidationError && tooLarge.code === 'CONTENT_TOO_LARGE');
    assert.ok(fromS3Error(sdk('SlowDown', 503), ctx) instanceof ProviderUnavailableError);
    assert.ok(fromS3Error(sdk('InternalError', 500), ctx) instanceof ProviderUnavailableError);
    assert.ok(fromS3Error(sdk('NoSuchKey', 404), ctx) instanceof NotFoundError);
    assert.ok(fromS3Error(sdk('SignatureDoesNotMatch', 403), ctx) instanceof AccessDeniedError);
    assert.match(fromS3Error(sdk('NoSuchBucket', 404), ctx).message, /bucket "b" does not exist/);
  });
});

warnSkipped('s3 error tests against the gateway');
describe('s3 errors against the real gateway', { skip: s3SkipReason ?? false }, () => {
  let bucket: string;
  let provider: S3Provider;
  before(async () => {
    bucket = await createTestBucket('errors');
    provider = new S3Provider(providerConfig(bucket));
  });
  after(async () => {
    await provider?.close();
    if (bucket) await removeTestBucket(bucket);
  });

  it('refuses a wrong secret with AccessDeniedError naming the bucket', async () => {
    const wrong = new S3Provider(providerConfig(bucket, { secret_access_key: 'not-the-secret-0000000000000000000000000' }));
    try {
      for (const call of [() => put(wrong, 'denied.txt'), () => wrong.list(''), () => wrong.openDownload('x')]) {
        await assert.rejects(call(), (e: unknown) => e instanceof AccessDeniedError && e.message.includes(`"${bucket}"`) && /SignatureDoesNotMatch/.test(e.message));
      }
      // HEAD answers carry no error body: only the status says what went wrong.
      for (const call of [() => wrong.exists('denied.txt'), () => wrong.getMetadata('x'), () => wrong.health(), () => wrong.delete('x')]) {
        await assert.rejects(call(), (e: unknown) => e instanceof AccessDeniedError && e.message.includes(`"${bucket}"`) && /HTTP 403/.test(e.message));
      }
    } finally {
      await wrong.close();
    }
    assert.equal(await provider.exists('denied.txt'), false);
  });

  it('refuses an unknown access key with AccessDeniedError', async () => {
    const unknown = new S3Provider(providerConfig(bucket, { access_key_id: 'NOSUCHACCESSKEY00000' }));
    try {
      await assert.rejects(unknown.health(), AccessDeniedError);
      await assert.rejects(put(unknown, 'denied.txt'), (e: unknown) => e instanceof AccessDeniedError && /InvalidAccessKeyId/.test(e.message));
    } finally {
      await unknown.close();
    }
  });

  it('names a bucket that does not exist', async () => {
    const missing = `boards-missing-${Date.now()}`;
    const lost = new S3Provider(providerConfig(missing), { name: 'media' });
    try {
      const named = (e: unknown) => e instanceof StorageError && e.code === 'CONFIG_INVALID' && e.message.includes(`"${missing}"`) && /does not exist/.test(e.message);
      await assert.rejects(lost.health(), (e: unknown) => named(e) && (e as Error).message.includes('storage.providers.media.config.bucket'));
      await assert.rejects(lost.openDownload('a.txt'), named);
      await assert.rejects(put(lost, 'a.txt'), named);
      await assert.rejects(lost.list(''), named);
    } finally {
      await lost.close();
    }
  });

  it('fails fast with ProviderUnavailableError on a closed port', async () => {
    const port = await closedPort();
    const closed = new S3Provider({ ...providerConfig(bucket), endpoint: `http://127.0.0.1:${port}` });
    try {
      for (const call of [() => closed.health(), () => closed.exists('a'), () => put(closed, 'a.txt'), () => closed.openDownload('a')]) {
        const started = Date.now();
        await assert.rejects(call(), (e: unknown) => e instanceof ProviderUnavailableError && /ECONNREFUSED/.test(e.message) && e.message.includes(`"${bucket}"`));
        assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
      }
    } finally {
      await closed.close();
    }
  });

  it('gives up on a server that never answers within the request timeout', async () => {
    const silent = await silentServer();
    const stuck = new S3Provider({ ...providerConfig(bucket), endpoint: `http://127.0.0.1:${silent.port}`, request_timeout_ms: 300, max_attempts: 2 });
    try {
      const started = Date.now();
      await assert.rejects(stuck.exists('a'), ProviderUnavailableError);
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    } finally {
      await stuck.close();
      await silent.close();
    }
  });

  it('reports an exhausted bucket quota as InsufficientStorageError, leaving nothing', async () => {
    const full = await createTestBucket('quota');
    const limited = new S3Provider(providerConfig(full, { part_size: '5MB' }));
    try {
      await setBucketQuota(full, 2048);
      await assert.rejects(put(limited, 'small.txt', 'x'.repeat(4096)), (e: unknown) => e instanceof InsufficientStorageError && /QuotaExceeded/.test(e.message));
      await assert.rejects(limited.upload('large.bin', generated(12 * 1024 * 1024), { contentType: 'application/octet-stream', metadata: {} }), InsufficientStorageError);
      assert.equal(await limited.exists('small.txt'), false);
      assert.equal(await limited.exists('large.bin'), false);
      assert.deepEqual(await openMultipartUploads(full), []);
    } finally {
      await limited.close();
      await removeTestBucket(full);
    }
  });

  it('keeps non-ASCII metadata and stores despite oversize metadata', async () => {
    const body = Buffer.from('metadata body');
    const metadata: Record<string, string> = { prompt: 'un café, 漢字 🎨', 'user-metadata': encodeURIComponent(JSON.stringify({ notes: 'n'.repeat(4000) })) };
    await provider.upload('meta.txt', chunksOf(body, 4, () => { metadata.sha256 = sha256(body); metadata.size = String(body.length); }), { contentType: 'text/plain', metadata });
    const meta = await provider.getMetadata('meta.txt');
    assert.equal(meta.metadata.prompt, 'un café, 漢字 🎨');
    assert.equal(meta.metadata.sha256, sha256(body));
    assert.equal(meta.metadata.size, String(body.length));
    assert.equal(meta.metadata['user-metadata'], undefined);
    assert.deepEqual(await readAll(await provider.openDownload('meta.txt')), body);
  });

  it('stores under the configured prefix and lists without it', async () => {
    const prefixed = new S3Provider(providerConfig(bucket, { prefix: 'tenant-root/boards' }));
    try {
      await put(prefixed, 'p/one.txt', 'one');
      await put(prefixed, 'p/two.txt', 'two');
      await adminClient().send(new HeadObjectCommand({ Bucket: bucket, Key: 'tenant-root/boards/p/one.txt' }));
      const page = await prefixed.list('p/', { limit: 1 });
      assert.deepEqual(page.items.map((i) => i.key), ['p/one.txt']);
      const rest = await prefixed.list('p/', { limit: 10, ...(page.nextCursor ? { cursor: page.nextCursor } : {}) });
      assert.deepEqual(rest.items.map((i) => i.key), ['p/two.txt']);
      assert.equal(rest.nextCursor, undefined);
      assert.equal((await readAll(await prefixed.openDownload('p/two.txt'))).toString(), 'two');
      assert.equal(await provider.exists('p/one.txt'), false);
      assert.equal(await prefixed.delete('p/one.txt'), true);
      assert.equal(await prefixed.delete('p/two.txt'), true);
    } finally {
      await prefixed.close();
    }
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP server on 127.0.0.1 that accepts connections and never answers. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
