import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import sharp from 'sharp';
import { createStorageManager } from '../../src/manager/create.ts';
import { createServer } from '../../src/server/app.ts';
import type { BoardsStorageServer } from '../../src/server/app.ts';
import { mintToken } from '../../src/server/auth.ts';
import { resolveServerConfig } from '../../src/server/server-config.ts';
import { tempDir } from '../helpers.ts';

/**
 * The raw GET path (src/server/fast-get.ts) against the Fastify route it stands in for: one
 * catalog, two servers, one with raw routes and one without. The same request to both gets the
 * same status, the same headers in the same order (Date aside) and the same body; the counts say
 * which requests the raw path answered and which it handed on. Deletes, trashing and visibility
 * changes, also from another process, show in the very next response.
 */

const dataDir = await tempDir('fast-get');
const filesDir = join(dataDir, 'files');
const storageConfig = {
  data_dir: dataDir, providers: { local: { type: 'local', config: { base_path: filesDir } } }, server: {}, auth: {},
  media: { background_variants: false }, variants: { image: [{ name: 'thumb_32', width: 32, format: 'webp' }] },
};
const storage = await createStorageManager({ config: storageConfig as never, env: {} });
const config = resolveServerConfig(storage.config, {});

type Line = Record<string, unknown>;
function logTo(lines: Line[]): Writable {
  return new Writable({ write(chunk: Buffer, _enc, done) { for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Line); done(); } });
}
const fastLines: Line[] = [];
const routeLines: Line[] = [];

async function start(rawRoutes: boolean, lines: Line[]): Promise<{ server: BoardsStorageServer; url: string }> {
  const server = await createServer({ storage, config, rawRoutes, logger: { level: 'info', stream: logTo(lines) } as never, processMetrics: false });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  return { server, url: `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}` };
}
const fast = await start(true, fastLines);
const route = await start(false, routeLines);
after(async () => {
  await fast.server.app.close();
  await route.server.app.close();
  await storage.close();
});

const secret = fast.server.jwt.secret!;
const bearer = async (claims: { tenant?: string; role?: string; sub?: string }) => `Bearer ${await mintToken(secret, { subject: claims.sub ?? 'user-1', expiresIn: 600, ...(claims.tenant ? { tenantId: claims.tenant } : {}), ...(claims.role ? { role: claims.role } : {}) })}`;
const alice = await bearer({ tenant: 'alice' });
const bob = await bearer({ tenant: 'bob' });
const service = await bearer({ role: 'service', sub: 'svc' });

interface Answer {
  status: number;
  /** Raw header names and values in the order sent, without Date (the clock moves). */
  headers: string[];
  body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
after(() => agent.destroy());

function get(base: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = res.rawHeaders;
        const kept: string[] = [];
        for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() !== 'date') kept.push(raw[i]!, raw[i + 1]!);
        resolve({ status: res.statusCode ?? 0, headers: kept, body: Buffer.concat(chunks).toString('latin1') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** How many of the requests made by `run` the raw path answered itself. */
async function answeredRaw(run: () => Promise<unknown>): Promise<number> {
  const { received, handedOn } = fast.server.rawRoutes.counts;
  await run();
  return (fast.server.rawRoutes.counts.received - received) - (fast.server.rawRoutes.counts.handedOn - handedOn);
}

/**
 * The same request to both servers, after one to the raw server that fills its caches (token,
 * bytes): the answers are identical. Returns the answer and whether the raw path gave it.
 */
async function same(path: string, headers: Record<string, string>, method = 'GET'): Promise<{ answer: Answer; raw: boolean }> {
  await get(fast.url, path, headers, method);
  let answer: Answer | undefined;
  const raw = await answeredRaw(async () => { answer = await get(fast.url, path, headers, method); });
  const expected = await get(route.url, path, headers, method);
  assert.deepEqual(answer, expected, `${method} ${path} ${JSON.stringify(headers)}`);
  return { answer: answer!, raw: raw === 1 };
}

const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 256));
const put = async (tenant: string, visibility: 'public' | 'private' = 'private', artifactId = 'fixture') => (await storage.storeArtifact({ artifactId, artifactType: 'model', contentType: 'application/octet-stream', content: bytes, tenantId: tenant, visibility })).storageKey;

describe('raw GET path: the same answers as the route', () => {
  it('answers 200, HEAD, 304 and 206 itself, byte for byte as the route does', async () => {
    const key = await put('alice');
    const path = `/v1/artifacts/${key}`;
    const auth = { authorization: alice };
    const ok = await same(path, auth);
    assert.equal(ok.answer.status, 200);
    assert.equal(ok.answer.body, bytes.toString('latin1'));
    assert.ok(ok.raw, 'the raw path answered the 200');
    const head = await same(path, auth, 'HEAD');
    assert.equal(head.answer.status, 200);
    assert.equal(head.answer.body, '');
    assert.ok(head.raw);
    const etag = ok.answer.headers[ok.answer.headers.findIndex((h) => h.toLowerCase() === 'etag') + 1]!;
    const notModified = await same(path, { ...auth, 'if-none-match': `W/${etag}` });
    assert.equal(notModified.answer.status, 304);
    assert.ok(notModified.raw);
    const partial = await same(path, { ...auth, range: 'bytes=10-19' });
    assert.equal(partial.answer.status, 206);
    assert.equal(partial.answer.body, bytes.subarray(10, 20).toString('latin1'));
    assert.ok(partial.raw);
    const suffix = await same(path, { ...auth, range: 'bytes=-5' });
    assert.equal(suffix.answer.status, 206);
    assert.ok(suffix.raw);
    const stale = await same(path, { ...auth, range: 'bytes=0-9', 'if-range': '"other"' });
    assert.equal(stale.answer.status, 200);
    assert.ok(stale.raw);
    const headRange = await same(path, { ...auth, range: 'bytes=0-9' }, 'HEAD');
    assert.equal(headRange.answer.status, 206);
    // A service token naming the tenant.
    const named = await same(path, { authorization: service, 'x-tenant-id': 'alice' });
    assert.equal(named.answer.status, 200);
    assert.ok(named.raw);
  });

  it('public and private artifacts get their own Cache-Control', async () => {
    const key = await put('alice', 'public', 'shown');
    const answer = (await same(`/v1/artifacts/${key}`, { authorization: alice })).answer;
    assert.ok(answer.headers.includes('public, max-age=31536000, immutable'));
  });

  it('hands refusals and errors to the route: 416, 401, 403, 404 for another tenant and a missing key, 400', async () => {
    const key = await put('alice');
    const path = `/v1/artifacts/${key}`;
    const cases: [string, Record<string, string>, number][] = [
      [path, { authorization: alice, range: 'bytes=999999-' }, 416],
      [path, {}, 401],
      [path, { authorization: 'Bearer not.a.token' }, 401],
      [path, { authorization: `${alice}x` }, 401],
      [path, { authorization: alice, 'x-tenant-id': 'bob' }, 403],
      [path, { authorization: service }, 200],
      [path, { authorization: bob }, 404],
      [`/v1/artifacts/${key.replace('alice/', 'bob/')}`, { authorization: bob }, 404],
      ['/v1/artifacts/alice/model/missing_20260101000000_abcdef12/original.bin', { authorization: alice }, 404],
      ['/v1/artifacts/alice/../bob/x', { authorization: alice }, 400],
    ];
    for (const [p, headers, status] of cases) {
      const { answer, raw } = await same(p, headers);
      assert.equal(answer.status, status, `${p} ${JSON.stringify(headers)}`);
      if (status !== 200) assert.ok(!raw, `the raw path left the ${status} to the route`);
      if (status >= 400) assert.match(answer.body, /^\{"error":\{"code":"[A-Z_]+","message":/);
    }
  });

  it('hands requests with a query to the route', async () => {
    const key = await put('alice');
    for (const path of [`/v1/artifacts/${key}?download=x.bin`, `/v1/artifacts/${key}?tenantId=alice`]) {
      const { answer, raw } = await same(path, { authorization: alice });
      assert.equal(answer.status, 200);
      assert.ok(!raw);
    }
  });

  it('writes the route\'s log line and counts the route\'s metrics', async () => {
    const key = await put('alice', 'private', 'logged');
    const path = `/v1/artifacts/${key}`;
    const requestsOf = async (base: string) => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('boards_storage_http_requests_total{') && l.includes('route="/v1/artifacts/*"') && l.includes('status="200"') && l.includes('method="GET"'));
      return Number(line?.split(' ').at(-1) ?? 0);
    };
    await get(fast.url, path, { authorization: alice });
    const before = await requestsOf(fast.url);
    assert.equal(await answeredRaw(() => get(fast.url, path, { authorization: alice })), 1);
    assert.equal(await requestsOf(fast.url), before + 1);
    await get(route.url, path, { authorization: alice });
    const mine = (lines: Line[]) => lines.filter((l) => (l.req as { url?: string } | undefined)?.url === path);
    const fastLine = mine(fastLines).at(-1)!;
    const routeLine = mine(routeLines).at(-1)!;
    assert.deepEqual(Object.keys(fastLine), Object.keys(routeLine));
    assert.deepEqual(fastLine.req, routeLine.req);
    assert.deepEqual(fastLine.res, { statusCode: 200 });
    assert.equal(fastLine.msg, 'request completed');
    assert.equal(typeof fastLine.responseTime, 'number');
    assert.match(String(fastLine.reqId), /^req-[0-9a-z]+$/);
    assert.equal(mine(fastLines).length, 2, 'one line per request');
  });
});

describe('raw GET path: variants by name', () => {
  it('answers ?variant= for a variant the route found, as the route does, until the catalog changes', async () => {
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3a6' } }).png().toBuffer();
    const original = (await storage.storeArtifact({ artifactId: 'picture', artifactType: 'image', contentType: 'image/png', content: png, tenantId: 'alice' })).storageKey;
    const path = `/v1/artifacts/${original}?variant=thumb_32`;
    const auth = { authorization: alice };
    // The first request makes the variant (the route); the next ones find it.
    assert.equal((await get(fast.url, path, auth)).status, 200);
    const made = await same(path, auth);
    assert.equal(made.answer.status, 200);
    assert.ok(made.answer.headers.includes('image/webp'));
    assert.ok(made.raw, 'the raw path answered the made variant');
    assert.ok((await same(path, auth, 'HEAD')).raw);
    // Not for another tenant, nor with any other query.
    const foreign = await same(path, { authorization: bob });
    assert.equal(foreign.answer.status, 404);
    assert.ok(!foreign.raw);
    for (const other of [`${path}&download=t.webp`, `/v1/artifacts/${original}?variant=thumb_64`, `/v1/artifacts/${original}?variant=`]) {
      const { raw } = await same(other, auth);
      assert.ok(!raw, other);
    }
    // The original deleted (its variants with it): the next request is the route's 404.
    await storage.deleteArtifact(original, undefined, { permanent: true });
    const gone = await get(fast.url, path, auth);
    assert.equal(gone.status, 404);
  });
});

describe('raw GET path: the catalog\'s word is the latest', () => {
  it('a delete, a trashing and a visibility change show in the very next response', async () => {
    const auth = { authorization: alice };
    const trashed = await put('alice', 'private', 'trashed');
    const deleted = await put('alice', 'private', 'deleted');
    const shown = await put('alice', 'private', 'shown2');
    for (const key of [trashed, deleted, shown]) {
      await get(fast.url, `/v1/artifacts/${key}`, auth);
      assert.equal((await same(`/v1/artifacts/${key}`, auth)).raw, true);
    }
    await storage.deleteArtifact(trashed);
    await storage.deleteArtifact(deleted, undefined, { permanent: true });
    await storage.setVisibility(shown, 'public');
    assert.equal((await same(`/v1/artifacts/${trashed}`, auth)).answer.status, 404);
    assert.equal((await same(`/v1/artifacts/${deleted}`, auth)).answer.status, 404);
    const publicNow = await same(`/v1/artifacts/${shown}`, auth);
    assert.ok(publicNow.raw);
    assert.ok(publicNow.answer.headers.includes('public, max-age=31536000, immutable'));
  });

  it('a delete made by another process shows in the very next response', async () => {
    const auth = { authorization: alice };
    const key = await put('alice', 'private', 'elsewhere');
    await get(fast.url, `/v1/artifacts/${key}`, auth);
    assert.equal((await get(fast.url, `/v1/artifacts/${key}`, auth)).status, 200);
    const script = `import { createStorageManager } from ${JSON.stringify(new URL('../../src/manager/create.ts', import.meta.url).href)};
const storage = await createStorageManager({ config: ${JSON.stringify(storageConfig)}, env: {} });
if (!(await storage.deleteArtifact(${JSON.stringify(key)}, undefined, { permanent: true }))) process.exit(3);
await storage.close();`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(child.status, 0, child.stderr);
    const answer = await get(fast.url, `/v1/artifacts/${key}`, auth);
    assert.equal(answer.status, 404);
  });
});
