import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { after } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startTestServer } from './server-harness.ts';

/** Bearer tokens: HS256 with the configured secret, RS256/ES256 from a JWKS URL; everything else is a 401. */

// An identity provider's JWKS endpoint on loopback, as Supabase Auth or Auth0 would serve it.
const rsa = await generateKeyPair('RS256');
const ec = await generateKeyPair('ES256');
const jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rsa1', alg: 'RS256' }, { ...(await exportJWK(ec.publicKey)), kid: 'ec1', alg: 'ES256' }] };
const idp = createHttpServer((_req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(jwks)); });
await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
after(() => new Promise<void>((r) => idp.close(() => r())));
const jwksUrl = `http://127.0.0.1:${(idp.address() as { port: number }).port}/.well-known/jwks.json`;

const SECRET = 'a-test-secret-of-at-least-32-characters!';
const server = await startTestServer({ auth: { jwt_secret: SECRET, jwks_url: jwksUrl, issuer: 'https://idp.example', audience: 'authenticated', tenant_claim: 'app_metadata.tenant_id' } });

const now = () => Math.floor(Date.now() / 1000);
const claims = { sub: 'user-1', app_metadata: { tenant_id: 'alice' } };
const hs = (payload: Record<string, unknown>, secret = SECRET, header: Record<string, unknown> = {}) => new SignJWT(payload).setProtectedHeader({ alg: 'HS256', ...header }).sign(new TextEncoder().encode(secret));
const good = { iss: 'https://idp.example', aud: 'authenticated', exp: now() + 600, iat: now() };

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function status(token: string | undefined, headers: Record<string, string> = {}): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${server.url}/v1/artifacts`, { headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers } });
  const body = await res.json() as { error?: { code: string } };
  return { status: res.status, ...(body.error ? { code: body.error.code } : {}) };
}

describe('bearer tokens', () => {
  it('accepts HS256 with the configured secret and RS256/ES256 from the JWKS', async () => {
    assert.equal((await status(await hs({ ...claims, ...good }))).status, 200);
    const rs = await new SignJWT({ ...claims, ...good }).setProtectedHeader({ alg: 'RS256', kid: 'rsa1' }).sign(rsa.privateKey);
    assert.equal((await status(rs)).status, 200);
    const es = await new SignJWT({ ...claims, ...good }).setProtectedHeader({ alg: 'ES256', kid: 'ec1' }).sign(ec.privateKey);
    assert.equal((await status(es)).status, 200);
  });

  const cases: [string, () => Promise<string | undefined> | string | undefined, string][] = [
    ['no Authorization header', () => undefined, 'UNAUTHENTICATED'],
    ['not a JWT', () => 'not-a-jwt', 'TOKEN_INVALID'],
    ['a wrong signature', () => hs({ ...claims, ...good }, 'another-secret-of-at-least-32-characters!'), 'TOKEN_INVALID'],
    ['alg none', () => `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ ...claims, ...good })}.`, 'TOKEN_INVALID'],
    ['alg none with a signature part', async () => { const t = await hs({ ...claims, ...good }); return `${base64url({ alg: 'none' })}.${t.split('.')[1]}.${t.split('.')[2]}`; }, 'TOKEN_INVALID'],
    ['HS256 signed with the RSA public key (alg confusion)', async () => hs({ ...claims, ...good }, JSON.stringify(jwks.keys[0])), 'TOKEN_INVALID'],
    ['an expired token', () => hs({ ...claims, ...good, exp: now() - 60 }), 'TOKEN_EXPIRED'],
    ['no expiry', () => hs({ ...claims, iss: good.iss, aud: good.aud }), 'TOKEN_INVALID'],
    ['another issuer', () => hs({ ...claims, ...good, iss: 'https://evil.example' }), 'TOKEN_INVALID'],
    ['another audience', () => hs({ ...claims, ...good, aud: 'someone-else' }), 'TOKEN_INVALID'],
    ['no tenant', () => hs({ sub: 'user-1', ...good }), 'TENANT_REQUIRED'],
    ['an unsafe tenant', () => hs({ sub: 'user-1', app_metadata: { tenant_id: '../bob' }, ...good }), 'TOKEN_INVALID'],
    ['the reserved tenant "temp"', () => hs({ sub: 'user-1', app_metadata: { tenant_id: 'temp' }, ...good }), 'TOKEN_INVALID'],
    ['no subject', () => hs({ app_metadata: { tenant_id: 'alice' }, ...good }), 'TOKEN_INVALID'],
    ['an RS256 token from an unknown key', async () => new SignJWT({ ...claims, ...good }).setProtectedHeader({ alg: 'RS256', kid: 'rsa1' }).sign((await generateKeyPair('RS256')).privateKey), 'TOKEN_INVALID'],
  ];
  for (const [label, make, code] of cases) {
    it(`answers ${label} with 401 ${code}`, async () => {
      assert.deepEqual(await status(await make()), { status: 401, code });
    });
  }

  it('refuses a Basic or malformed Authorization header', async () => {
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b']) {
      const res = await fetch(`${server.url}/v1/stats`, { headers: { authorization: header } });
      assert.equal(res.status, 401, header);
    }
  });

  it('lets a service role act for the tenant it names, and only a service role', async () => {
    const service = await hs({ sub: 'worker', role: 'service', ...good });
    assert.deepEqual(await status(service), { status: 401, code: 'TENANT_REQUIRED' });
    assert.equal((await status(service, { 'x-tenant-id': 'bob' })).status, 200);
    assert.equal((await status(service, { 'x-tenant-id': '../bob' })).status, 400);
    const user = await hs({ ...claims, ...good, role: 'authenticated' });
    assert.equal((await status(user, { 'x-tenant-id': 'bob' })).status, 403);
    assert.equal((await status(user, { 'x-tenant-id': 'alice' })).status, 200);
  });
});
