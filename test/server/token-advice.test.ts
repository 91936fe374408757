import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startTestServer } from './server-harness.ts';

/** A 401 for an expired or unverifiable token says how to get a new one. */

const server = await startTestServer();
const now = () => Math.floor(Date.now() / 1000);

async function errorFor(token: string): Promise<{ status: number; code: string; message: string }> {
  const res = await fetch(`${server.url}/v1/artifacts`, { headers: { authorization: `Bearer ${token}` } });
  const { error } = await res.json() as { error: { code: string; message: string } };
  return { status: res.status, ...error };
}

describe('token advice', () => {
  it('an expired token: TOKEN_EXPIRED, and how to mint a new one', async () => {
    const expired = await new SignJWT({ sub: 'u', tenant_id: 'alice', iat: now() - 700, exp: now() - 60 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(server.jwtSecret));
    const error = await errorFor(expired);
    assert.deepEqual([error.status, error.code], [401, 'TOKEN_EXPIRED']);
    assert.match(error.message, /^the token has expired; mint a new one with `boards-storage token --tenant T --sub U` \(with the service's --config or --data-dir/);
  });

  it('a token signed with another secret: TOKEN_INVALID, and how to mint one that verifies', async () => {
    const foreign = await new SignJWT({ sub: 'u', tenant_id: 'alice', exp: now() + 600 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('another-secret-of-at-least-32-characters!'));
    const error = await errorFor(foreign);
    assert.deepEqual([error.status, error.code], [401, 'TOKEN_INVALID']);
    assert.match(error.message, /^the token does not verify \(it was signed with another secret or key, or altered\); mint a new one with `boards-storage token/);
  });
});
