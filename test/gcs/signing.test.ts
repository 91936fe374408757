/**
 * V4 signed URLs, verified against Google's V4 signing rules with the public half of a test key
 * generated for this run. No server is needed: signing with a private key is local.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createVerify } from 'node:crypto';
import { GcsProvider } from '../../src/providers/gcs.ts';
import { testServiceAccount } from './gcs-test-server.ts';

const provider = new GcsProvider({
  bucket: 'boards-signing',
  credentials: { client_email: testServiceAccount.client_email, private_key: testServiceAccount.private_key },
  project_id: 'boards-test',
}, { name: 'gcs-signing' });

/** RFC 3986 encoding, as the V4 canonical query string wants it. */
const encode = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Recompute the V4 string to sign from the URL, the method and the headers a client sends, and
 * check the signature with the public key. Throws when anything was altered.
 */
function verifyV4(signedUrl: string, method: string, headers: Record<string, string> = {}): URL {
  const url = new URL(signedUrl);
  const query = url.searchParams;
  assert.equal(query.get('X-Goog-Algorithm'), 'GOOG4-RSA-SHA256');
  const signature = query.get('X-Goog-Signature');
  assert.ok(signature && /^[0-9a-f]+$/.test(signature), 'a hex signature');
  const date = query.get('X-Goog-Date')!;
  const credential = query.get('X-Goog-Credential')!;
  const [email, ...scope] = credential.split('/');
  assert.equal(email, testServiceAccount.client_email);
  const signedHeaders = query.get('X-Goog-SignedHeaders')!.split(';');
  const headerValues: Record<string, string> = { host: url.host, ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) };
  const canonicalHeaders = signedHeaders.map((name) => {
    assert.ok(headerValues[name] !== undefined, `the client must send the signed header ${name}`);
    return `${name}:${headerValues[name]!.trim()}\n`;
  }).join('');
  const canonicalQuery = [...query.entries()]
    .filter(([name]) => name !== 'X-Goog-Signature')
    .map(([name, value]) => [encode(name), encode(value)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const canonicalRequest = [method, url.pathname, canonicalQuery, canonicalHeaders, signedHeaders.join(';'), 'UNSIGNED-PAYLOAD'].join('\n');
  const stringToSign = ['GOOG4-RSA-SHA256', date, scope.join('/'), createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const valid = createVerify('RSA-SHA256').update(stringToSign).verify(testServiceAccount.publicKey, Buffer.from(signature, 'hex'));
  if (!valid) throw new Error('signature does not verify');
  return url;
}

describe('gcs V4 signed URLs', () => {
  it('signs a download URL that verifies, for the object and the method it names only', async () => {
    const url = await provider.getPresignedDownloadUrl('t/image/a_20260101000000_0123abcd/original.png', { expiresIn: 600 });
    const parsed = verifyV4(url, 'GET');
    assert.equal(parsed.origin, 'https://storage.googleapis.com');
    assert.equal(parsed.pathname, '/boards-signing/t/image/a_20260101000000_0123abcd/original.png');
    assert.equal(parsed.searchParams.get('X-Goog-Expires'), '600');
    assert.match(parsed.searchParams.get('X-Goog-Credential')!, /\/\d{8}\/auto\/storage\/goog4_request$/);
    assert.throws(() => verifyV4(url.replace('original.png', 'other.png'), 'GET'));
    assert.throws(() => verifyV4(url, 'PUT'));
    assert.throws(() => verifyV4(url.replace('X-Goog-Expires=600', 'X-Goog-Expires=6000'), 'GET'));
  });

  it('signs the download file name into the URL', async () => {
    const url = await provider.getPresignedDownloadUrl('t/a.bin', { expiresIn: 60, filename: 'fox "1".png' });
    const parsed = verifyV4(url, 'GET');
    assert.match(parsed.searchParams.get('response-content-disposition')!, /^attachment; filename="fox _1_.png"/);
  });

  it('signs an upload URL that needs its content type and size limit sent', async () => {
    const upload = await provider.getPresignedUploadUrl('t/video/clip.mp4', { contentType: 'video/mp4', expiresIn: 300, maxSize: 1000 });
    assert.equal(upload.method, 'PUT');
    assert.deepEqual(upload.headers, { 'Content-Type': 'video/mp4', 'x-goog-content-length-range': '0,1000' });
    assert.ok(Math.abs(Date.parse(upload.expiresAt) - (Date.now() + 300_000)) < 5000);
    verifyV4(upload.url, 'PUT', upload.headers);
    assert.throws(() => verifyV4(upload.url, 'PUT', { ...upload.headers, 'Content-Type': 'text/html' }));
    assert.throws(() => verifyV4(upload.url, 'PUT', { ...upload.headers, 'x-goog-content-length-range': '0,999999999' }));
    assert.throws(() => verifyV4(upload.url, 'GET', upload.headers));
  });

  it('refuses expiries V4 cannot sign', async () => {
    await assert.rejects(provider.getPresignedDownloadUrl('t/a.bin', { expiresIn: 8 * 24 * 3600 }), /7 days/);
    await assert.rejects(provider.getPresignedDownloadUrl('t/a.bin', { expiresIn: 0 }), /whole number/);
  });
});
