/**
 * The Supabase provider without a server: config schema, URL building, error-body mapping, and the
 * ordering and paging of both listings (over in-memory listers that follow the server's documented
 * semantics; the contract suite runs against a real server).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AccessDeniedError, ConfigError, InsufficientStorageError, NotFoundError, ProviderUnavailableError, StorageError, ValidationError } from '../../src/errors.ts';
import { encodeCursor } from '../../src/providers/list-cursor.ts';
import { providerFactory } from '../../src/providers/registry.ts';
import { encodePath, flatListing, listCursorAfter, supabaseStorageUrl, SupabaseProvider, tokenExpiry, walkFolders } from '../../src/providers/supabase.ts';
import type { FlatPage, FolderEntry } from '../../src/providers/supabase.ts';
import { fromSupabaseError, isRouteMissing, isSupabaseNotFound, SupabaseHttpError } from '../../src/providers/supabase-errors.ts';

const base = { url: 'https://abc.supabase.co', key: 'service-role-key', bucket: 'boards' };
const ctx = { bucket: 'boards', endpoint: 'https://abc.supabase.co/storage/v1', what: 'reading k' };
const answer = (status: number, body: object) => new SupabaseHttpError(status, body);

describe('supabase config', () => {
  const refused = (config: Record<string, unknown>, path: RegExp) => assert.throws(() => new SupabaseProvider(config as never, { name: 'cloud' }), (e: unknown) => e instanceof ConfigError && path.test(e.message));

  it('names the offending path', () => {
    refused({ key: 'k', bucket: 'b' }, /storage\.providers\.cloud\.config\.url: give the project url/);
    refused({ ...base, key: undefined }, /config\.key/);
    refused({ ...base, bucket: 'no/slash' }, /config\.bucket: must be a Supabase bucket name/);
    refused({ ...base, public_bucket: 'boards' }, /config\.public_bucket: must differ from bucket/);
    refused({ ...base, tus_threshold: '100KB' }, /config\.tus_threshold: must be between 1 MiB and 5 GiB/);
    refused({ ...base, cache_control: 'max-age=60' }, /config\.cache_control/);
    refused({ ...base, upsert: true }, /config: Unrecognized key/);
  });

  it('finds the storage API beneath the project URL, or at storage_url', () => {
    assert.equal(supabaseStorageUrl({ url: 'https://abc.supabase.co/' }), 'https://abc.supabase.co/storage/v1');
    assert.equal(supabaseStorageUrl({ url: 'https://abc.supabase.co', storage_url: 'http://127.0.0.1:5000/' }), 'http://127.0.0.1:5000');
    assert.equal(new SupabaseProvider(base).storageUrl, 'https://abc.supabase.co/storage/v1');
  });

  it('builds public URLs in the public bucket only', () => {
    const key = 't/image/b/a_20260101000000_0123abcd/original.png';
    assert.equal(new SupabaseProvider(base).getPublicUrl(key), undefined);
    assert.equal(new SupabaseProvider({ ...base, public_bucket: 'boards-public' }).getPublicUrl(key), `https://abc.supabase.co/storage/v1/object/public/boards-public/${key}`);
    assert.equal(encodePath('a b/c+d.png'), 'a%20b/c%2Bd.png');
    assert.equal(new SupabaseProvider({ ...base, public_bucket: 'boards-public' }).capabilities.publicUrl, true);
  });

  it('is registered lazily as type supabase', async () => {
    const provider = await providerFactory('supabase', 'storage.providers.s')(base, { name: 's', dataDir: '.' });
    assert.ok(provider instanceof SupabaseProvider);
  });
});

describe('supabase error mapping: by the body, not the HTTP status', () => {
  it('a missing object answered as HTTP 400 with statusCode "404" is a NotFoundError', () => {
    const missing = answer(400, { statusCode: '404', code: 'NoSuchKey', error: 'not_found', message: 'Object not found' });
    assert.ok(fromSupabaseError(missing, ctx) instanceof NotFoundError);
    assert.ok(isSupabaseNotFound(missing));
    // Older servers: no code.
    assert.ok(fromSupabaseError(answer(400, { statusCode: '404', error: 'not_found', message: 'Object not found' }), ctx) instanceof NotFoundError);
  });

  it('a missing bucket is a configuration error, not a missing object', () => {
    const bucket = answer(400, { statusCode: '404', code: 'NoSuchBucket', error: 'Bucket not found', message: 'Bucket not found' });
    assert.equal(fromSupabaseError(bucket, ctx).code, 'CONFIG_INVALID');
    assert.ok(!isSupabaseNotFound(bucket));
    assert.equal(fromSupabaseError(answer(400, { statusCode: '404', error: 'Bucket not found', message: 'Bucket not found' }), ctx).code, 'CONFIG_INVALID');
  });

  it('a refused JWT or policy is AccessDeniedError', () => {
    assert.ok(fromSupabaseError(answer(400, { statusCode: '400', code: 'InvalidJWT', error: 'InvalidJWT', message: 'jwt malformed' }), ctx) instanceof AccessDeniedError);
    assert.ok(fromSupabaseError(answer(400, { statusCode: '403', error: 'Unauthorized', message: 'new row violates row-level security policy' }), ctx) instanceof AccessDeniedError);
    assert.ok(fromSupabaseError(answer(401, { message: 'Invalid API key' }), ctx) instanceof AccessDeniedError);
  });

  it('413, 5xx, quota and network failures', () => {
    const large = fromSupabaseError(answer(400, { statusCode: '413', code: 'EntityTooLarge', error: 'Payload too large', message: 'The object exceeded the maximum allowed size' }), ctx);
    assert.ok(large instanceof ValidationError && large.code === 'CONTENT_TOO_LARGE');
    assert.ok(fromSupabaseError(answer(413, {}), ctx) instanceof ValidationError);
    assert.ok(fromSupabaseError(answer(500, { statusCode: '500', code: 'InternalError', message: 'Internal Server Error' }), ctx) instanceof ProviderUnavailableError);
    assert.ok(fromSupabaseError(answer(400, { statusCode: '504', code: 'DatabaseTimeout', message: 'timeout' }), ctx) instanceof ProviderUnavailableError);
    assert.ok(fromSupabaseError(answer(429, { message: 'slow down' }), ctx) instanceof ProviderUnavailableError);
    assert.ok(fromSupabaseError(answer(400, { statusCode: '507', message: 'quota' }), ctx) instanceof InsufficientStorageError);
    assert.equal(fromSupabaseError(answer(400, { statusCode: '409', code: 'Duplicate', error: 'Duplicate', message: 'The resource already exists' }), ctx).code, 'CONFLICT');
    assert.equal(fromSupabaseError(answer(416, { code: 'InvalidRange' }), ctx).code, 'RANGE_NOT_SATISFIABLE');
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) });
    assert.ok(fromSupabaseError(refused, ctx) instanceof ProviderUnavailableError);
    assert.ok(fromSupabaseError(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), ctx) instanceof ProviderUnavailableError);
  });

  it('reads through storage-js and tus-js-client wrappers', () => {
    // storage-js keeps a thrown fetch error as originalError (StorageUnknownError).
    const unknown = Object.assign(new Error('Object not found'), { __isStorageError: true, originalError: answer(400, { statusCode: '404', code: 'NoSuchKey', message: 'Object not found' }) });
    assert.ok(fromSupabaseError(unknown, ctx) instanceof NotFoundError);
    // storage-js StorageApiError: HTTP status plus the body's statusCode.
    const api = Object.assign(new Error('Object not found'), { __isStorageError: true, status: 400, statusCode: '404' });
    assert.ok(fromSupabaseError(api, ctx) instanceof NotFoundError);
    // tus-js-client DetailedError: the response's status and body.
    const tus = Object.assign(new Error('tus: unexpected response while creating upload'), { originalResponse: { getStatus: () => 400, getBody: () => '{"statusCode":"413","code":"EntityTooLarge","message":"too large"}' } });
    assert.equal(fromSupabaseError(tus, ctx).code, 'CONTENT_TOO_LARGE');
    const other = fromSupabaseError(new Error('odd'), ctx);
    assert.ok(other instanceof StorageError && other.message.startsWith('supabase bucket "boards"') && other.cause instanceof Error);
  });

  it('an unreachable server fails fast as unavailable', async () => {
    const provider = new SupabaseProvider({ ...base, url: 'http://127.0.0.1:9' });
    await assert.rejects(provider.getMetadata('a/b'), ProviderUnavailableError);
    await assert.rejects(provider.health(), ProviderUnavailableError);
    await assert.rejects(provider.upload('a/b', (async function* () { yield Buffer.from('x'); })(), { contentType: 'text/plain', metadata: {} }), ProviderUnavailableError);
  });
});

describe('supabase folder walk', () => {
  /** Folder entries (one level) of a set of keys, in a deliberately non-byte order, as a database collation might give. */
  function lister(keys: string[]): { list: (folder: string) => Promise<FolderEntry[]>; calls: string[] } {
    const calls: string[] = [];
    return {
      calls,
      list: async (folder) => {
        calls.push(folder);
        const names = new Map<string, boolean>();
        for (const key of keys.filter((k) => k.startsWith(folder))) {
          const restOf = key.slice(folder.length);
          const slash = restOf.indexOf('/');
          names.set(slash === -1 ? restOf : restOf.slice(0, slash), slash !== -1);
        }
        return [...names].map(([name, folderEntry]) => ({ name, folder: folderEntry, size: name.length, lastModified: '2026-01-01T00:00:00.000Z' }))
          .sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
      },
    };
  }
  const keys = ['p/l/a', 'p/l/b', 'p/l/c/1', 'p/l/c/2', 'p/l/d', 'p/l-sibling', 'p/l/e', 'p/l/f.x', 'p/L/upper', 'p/l/c-dash', 'p/l/c0', 'p/l/.emptyFolderPlaceholder', 'q/other'];
  const real = keys.filter((k) => !k.endsWith('.emptyFolderPlaceholder')).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

  it('lists in byte order across folders, whatever order the server gives', async () => {
    const { list } = lister(keys);
    assert.deepEqual((await walkFolders(list, 'p/', '', 100)).map((i) => i.key), real.filter((k) => k.startsWith('p/')));
    // A plain string prefix, not only a folder: `p/l` matches the folder p/l/ and the file p/l-sibling, not p/L/.
    assert.deepEqual((await walkFolders(list, 'p/l', '', 100)).map((i) => i.key), real.filter((k) => k.startsWith('p/l')));
    assert.deepEqual((await walkFolders(list, '', '', 100)).map((i) => i.key), real);
  });

  it('pages and resumes after any key, stored or not', async () => {
    const { list } = lister(keys);
    const expected = real.filter((k) => k.startsWith('p/'));
    const seen: string[] = [];
    let after = '';
    while (true) {
      const page = await walkFolders(list, 'p/', after, 3);
      seen.push(...page.map((i) => i.key));
      if (page.length < 3) break;
      after = page.at(-1)!.key;
    }
    assert.deepEqual(seen, expected);
    for (const from of ['p/l/c', 'p/l/c/1', 'p/l/c/', 'p/l/bb', 'p/l/c-dash', 'p/l/zzz', 'p/A']) {
      assert.deepEqual((await walkFolders(list, 'p/', from, 100)).map((i) => i.key), expected.filter((k) => Buffer.compare(Buffer.from(k), Buffer.from(from)) > 0), `after ${from}`);
    }
  });

  it('does not open folders that lie wholly before the cursor', async () => {
    const { list, calls } = lister(keys);
    await walkFolders(list, 'p/', 'p/l/d', 100);
    assert.ok(!calls.includes('p/l/c/'), `opened ${calls.join(', ')}`);
    assert.ok(!calls.includes('p/L/'));
    assert.equal(encodeCursor('p/l/d').length > 0, true);
  });
});

describe('supabase flat listing (list-v2)', () => {
  /**
   * Pages as Supabase Storage's list-v2 gives them without a delimiter: `name LIKE prefix%` (so
   * "_" matches any character), byte order, and a cursor of base64 `l:<last name>` lines.
   */
  function server(names: string[], pageSize: number): { page: (cursor: string | undefined) => Promise<FlatPage>; prefixOf: (p: string) => (cursor: string | undefined) => Promise<FlatPage>; requests: number } {
    const state = { requests: 0 };
    const sorted = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const like = (prefix: string) => new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/_/g, '.').replace(/%/g, '.*')}`, 's');
    const prefixOf = (prefix: string) => async (cursor: string | undefined): Promise<FlatPage> => {
      state.requests++;
      const startAfter = cursor ? Buffer.from(cursor, 'base64').toString().split('\n').find((line) => line.startsWith('l:'))!.slice(2) : '';
      const matching = sorted.filter((n) => like(prefix).test(n) && Buffer.compare(Buffer.from(n), Buffer.from(startAfter)) > 0);
      const objects = matching.slice(0, pageSize).map((name) => ({ name, metadata: { size: name.length }, updated_at: '2026-01-01T00:00:00.000Z' }));
      const hasNext = matching.length > pageSize;
      return { objects, hasNext, ...(hasNext ? { nextCursor: listCursorAfter(objects.at(-1)!.name) } : {}) };
    };
    return { page: prefixOf(''), prefixOf, get requests() { return state.requests; } };
  }
  const names = ['t/a_1/x', 't/a_1/y', 't/aX1/z', 't/a_10', 'T/a_1/upper', 't/a_1/.emptyFolderPlaceholder', 't/b', 'u/other'];
  const byteSorted = (keys: string[]) => [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

  it('keeps only keys that really start with the prefix, in byte order, case-sensitively', async () => {
    const s = server(names, 2);
    assert.deepEqual((await flatListing(s.prefixOf('t/a_1'), 't/a_1', '', 100)).map((i) => i.key), ['t/a_1/x', 't/a_1/y', 't/a_10']);
    assert.deepEqual((await flatListing(s.prefixOf(''), '', '', 100)).map((i) => i.key), byteSorted(names.filter((n) => !n.endsWith('Placeholder'))));
    const [first] = await flatListing(s.prefixOf('t/b'), 't/b', '', 1);
    assert.deepEqual(first, { key: 't/b', size: 3, lastModified: '2026-01-01T00:00:00.000Z' });
  });

  it('resumes after any key through the server cursor, and stops at what was wanted', async () => {
    const s = server(names, 2);
    assert.deepEqual((await flatListing(s.prefixOf('t/'), 't/', 't/a_1/x', 100)).map((i) => i.key), ['t/a_1/y', 't/a_10', 't/b'] /* 't/aX1/z' sorts before 't/a_1/x': X < _ */);
    assert.deepEqual((await flatListing(s.prefixOf('t/'), 't/', 't/a_1/xx', 2)).map((i) => i.key), ['t/a_1/y', 't/a_10']);
    assert.deepEqual(await flatListing(s.prefixOf('t/'), 't/', 't/zzz', 5), []);
  });

  it('uses the cursor format the server decodes', () => {
    assert.equal(Buffer.from(listCursorAfter('t/ü b'), 'base64').toString('utf8'), 'l:t/ü b');
  });
});

describe('supabase helpers', () => {
  it('reads the expiry of a signed upload token', () => {
    const token = (payload: object) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;
    assert.equal(tokenExpiry(token({ url: 'b/k', exp: 1_900_000_000 })), 1_900_000_000_000);
    assert.equal(tokenExpiry(token({ url: 'b/k' })), undefined);
    assert.equal(tokenExpiry('not a jwt'), undefined);
  });

  it('knows a server without the route, or a tenant without the feature', () => {
    assert.ok(isRouteMissing(answer(404, { message: 'Route POST:/object/list-v2/boards not found', error: 'Not Found', statusCode: 404 })));
    assert.ok(isRouteMissing(answer(400, { message: 'This feature is not available for your tenant' })));
    assert.ok(!isRouteMissing(answer(400, { statusCode: '404', code: 'NoSuchBucket', message: 'Bucket not found' })));
  });

  it('maps a refused content type and a locked object', () => {
    assert.equal(fromSupabaseError(answer(400, { statusCode: '415', code: 'InvalidMimeType', message: 'mime type image/png is not supported' }), ctx).code, 'CONTENT_TYPE_NOT_ALLOWED');
    assert.ok(fromSupabaseError(answer(400, { statusCode: '423', code: 'ResourceLocked', message: 'locked' }), ctx) instanceof ProviderUnavailableError);
  });
});
