/** GCS config schema, error mapping, public URLs and metadata limits: no server needed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AccessDeniedError, ConfigError, NotFoundError, ProviderUnavailableError, StorageError, ValidationError } from '../../src/errors.ts';
import { fitGcsMetadata as fitMetadata, GcsProvider } from '../../src/providers/gcs.ts';
import { fromGcsError, isGcsNotFound } from '../../src/providers/gcs-errors.ts';
import { providerFactory } from '../../src/providers/registry.ts';

const ctx = { bucket: 'b', endpoint: 'https://storage.googleapis.com', what: 'reading k' };
const apiError = (code: number, message: string, reason?: string) => Object.assign(new Error(message), { code, errors: reason ? [{ reason, message }] : [] });

describe('gcs config', () => {
  const refused = (config: Record<string, unknown>, path: RegExp) => assert.throws(() => new GcsProvider(config as never, { name: 'media' }), (e: unknown) => e instanceof ConfigError && path.test(e.message));

  it('names the offending path', () => {
    refused({}, /storage\.providers\.media\.config\.bucket/);
    refused({ bucket: 'Bad_Bucket!' }, /config\.bucket: must be a valid GCS bucket name/);
    refused({ bucket: 'ok-bucket', chunk_size: '1000KB' }, /config\.chunk_size: .*multiple of 256 KiB/);
    refused({ bucket: 'ok-bucket', credentials: 'not json' }, /config\.credentials: must be a service-account key/);
    refused({ bucket: 'ok-bucket', credentials: '{"client_email":"x"}' }, /config\.credentials: must be a service-account key with client_email and private_key/);
    refused({ bucket: 'ok-bucket', credentials_file: '/nonexistent/key.json' }, /config\.credentials_file: cannot read/);
    refused({ bucket: 'ok-bucket', unknown_option: 1 }, /config: Unrecognized key/);
  });

  it('is registered lazily as type gcs', async () => {
    const provider = await providerFactory('gcs', 'storage.providers.g')({ bucket: 'boards-lazy' }, { name: 'g', dataDir: '.' });
    assert.ok(provider instanceof GcsProvider);
  });

  it('builds public URLs only when configured to have them', () => {
    const key = 't/image/a_20260101000000_0123abcd/original.png';
    assert.equal(new GcsProvider({ bucket: 'boards-x' }).getPublicUrl(key), undefined);
    assert.equal(new GcsProvider({ bucket: 'boards-x', public_bucket: true }).getPublicUrl(key), `https://storage.googleapis.com/boards-x/${key}`);
    assert.equal(new GcsProvider({ bucket: 'boards-x', public_url_base: 'https://cdn.example.com/media/' }).getPublicUrl(key), `https://cdn.example.com/media/${key}`);
    assert.equal(new GcsProvider({ bucket: 'boards-x', acl: true, api_endpoint: 'http://127.0.0.1:9199' }).getPublicUrl(key), `http://127.0.0.1:9199/boards-x/${key}`);
  });
});

describe('gcs error mapping', () => {
  it('maps statuses and network failures to the library types', () => {
    assert.ok(fromGcsError(apiError(404, 'No such object: b/k', 'notFound'), ctx) instanceof NotFoundError);
    const bucket = fromGcsError(apiError(404, 'The specified bucket does not exist.', 'notFound'), ctx);
    assert.equal(bucket.code, 'CONFIG_INVALID');
    assert.ok(!isGcsNotFound(apiError(404, 'The specified bucket does not exist.')));
    assert.ok(fromGcsError(apiError(403, 'x does not have storage.objects.get access', 'forbidden'), ctx) instanceof AccessDeniedError);
    assert.ok(fromGcsError(apiError(401, 'Invalid Credentials', 'authError'), ctx) instanceof AccessDeniedError);
    assert.ok(fromGcsError(new Error('Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication'), ctx) instanceof AccessDeniedError);
    assert.ok(fromGcsError(apiError(503, 'Backend Error', 'backendError'), ctx) instanceof ProviderUnavailableError);
    assert.ok(fromGcsError(apiError(429, 'rate', 'rateLimitExceeded'), ctx) instanceof ProviderUnavailableError);
    assert.ok(fromGcsError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), ctx) instanceof ProviderUnavailableError);
    assert.ok(fromGcsError(Object.assign(new Error('network timeout at: https://x'), { type: 'request-timeout' }), ctx) instanceof ProviderUnavailableError);
    const large = fromGcsError(apiError(413, 'too large'), ctx);
    assert.ok(large instanceof ValidationError && large.code === 'CONTENT_TOO_LARGE');
    assert.equal(fromGcsError(apiError(416, 'range'), ctx).code, 'RANGE_NOT_SATISFIABLE');
    assert.equal(fromGcsError(apiError(412, 'precondition'), ctx).code, 'CONFLICT');
    const other = fromGcsError(new Error('odd'), ctx);
    assert.ok(other instanceof StorageError && other.message.includes('gcs bucket "b"') && other.cause instanceof Error);
  });
});

describe('gcs metadata limit', () => {
  it('drops the largest entries beyond 8 KiB, sha256 and size last', () => {
    const fitted = fitMetadata({ sha256: 'a'.repeat(64), size: '10', big: 'x'.repeat(9000), small: 'y' });
    assert.deepEqual(Object.keys(fitted).sort(), ['sha256', 'size', 'small']);
    assert.deepEqual(fitMetadata({ a: '1' }), { a: '1' });
  });
});
