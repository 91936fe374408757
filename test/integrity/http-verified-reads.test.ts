import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import type { StorageProvider } from '../../src/providers/provider.ts';
import { startTestServer } from '../server/server-harness.ts';

/**
 * Verified reads over HTTP, on real loopback connections: a GET answered with 200 never delivers
 * a complete body of wrong bytes. The cache holds only bytes that matched, under their own key.
 */
const server = await startTestServer({ server: { cache: { max_object_size: '64KB', max_total_size: '1MB' } } });

async function flipByte(key: string, at: number): Promise<void> {
  const path = join(server.filesDir, key);
  const bytes = await readFile(path);
  bytes[at] = bytes[at]! ^ 0xff;
  await writeFile(path, bytes);
}

/** One GET on its own connection: status, declared and received length, whether the body ended normally. */
function download(path: string, headers: Record<string, string>): Promise<{ status: number; declared: number; body: Buffer; complete: boolean }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const done = (complete: boolean) => resolve({ status: res.statusCode ?? 0, declared: Number(res.headers['content-length']), body: Buffer.concat(chunks), complete });
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(true));
      res.on('aborted', () => done(false));
      res.on('error', () => done(false));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertCutShort(got: Awaited<ReturnType<typeof download>>, size: number): void {
  assert.equal(got.status, 200);
  assert.equal(got.declared, size);
  assert.equal(got.complete, false, 'the client sees a failed transfer');
  assert.ok(got.body.length < size, `received ${got.body.length} of ${size}`);
}

const octet = 'application/octet-stream';

describe('GET /v1/artifacts/{key} of a corrupt copy', () => {
  it('cuts the local file response short when a byte in its middle changed (file read into buffers)', async () => {
    const content = randomBytes(5 * 1024 * 1024);
    const ref = await server.put('alice', content, octet, { artifactType: 'model' });
    await flipByte(ref.storageKey, 2 * 1024 * 1024 + 7);
    assertCutShort(await download(`/v1/artifacts/${ref.storageKey}`, await server.as('alice')), content.length);
  });

  it('cuts it short when the changed byte is in the last buffer, the one held back', async () => {
    const content = randomBytes(3 * 1024 * 1024 + 100);
    const ref = await server.put('alice', content, octet, { artifactType: 'model' });
    await flipByte(ref.storageKey, content.length - 1);
    assertCutShort(await download(`/v1/artifacts/${ref.storageKey}`, await server.as('alice')), content.length);
  });

  it('answers 500 CORRUPTION when the file fits in one buffer (checked before the headers)', async () => {
    const content = randomBytes(300 * 1024);
    const ref = await server.put('alice', content, octet, { artifactType: 'model' });
    await flipByte(ref.storageKey, 10);
    const got = await download(`/v1/artifacts/${ref.storageKey}`, await server.as('alice'));
    assert.equal(got.status, 500);
    assert.equal(JSON.parse(got.body.toString()).error.code, 'CORRUPTION');
  });

  it('cuts a streamed response short (a provider without openFile)', async () => {
    const content = randomBytes(4 * 1024 * 1024);
    const ref = await server.put('alice', content, octet, { artifactType: 'model' });
    await flipByte(ref.storageKey, 100);
    const local = server.storage.provider('local');
    server.storage.registerProvider('local', Object.assign(Object.create(local) as StorageProvider, { openFile: undefined }));
    try {
      assertCutShort(await download(`/v1/artifacts/${ref.storageKey}`, await server.as('alice')), content.length);
    } finally {
      server.storage.registerProvider('local', local);
    }
  });

  it('still serves a range of it (a range cannot be checked)', async () => {
    const content = randomBytes(2 * 1024 * 1024);
    const ref = await server.put('alice', content, octet, { artifactType: 'model' });
    await flipByte(ref.storageKey, 0);
    const got = await download(`/v1/artifacts/${ref.storageKey}`, { ...(await server.as('alice')), range: 'bytes=1000-1999' });
    assert.equal(got.status, 206);
    assert.ok(got.body.equals(content.subarray(1000, 2000)));
  });

  it('counts what it found in /metrics', async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const found = /boards_storage_corruptions_detected\{provider="local"\} (\d+)/.exec(metrics);
    assert.ok(found && Number(found[1]) >= 4, metrics.split('\n').filter((l) => l.includes('corruption')).join('\n'));
  });
});

describe('the small-object cache', () => {
  it("does not let one tenant's corrupt file answer for another tenant's identical artifact", async () => {
    const content = randomBytes(16 * 1024);
    const a = await server.put('tenant-a', content, octet, { artifactType: 'model' });
    const b = await server.put('tenant-b', content, octet, { artifactType: 'model' });
    assert.equal(a.sha256, b.sha256);
    await flipByte(a.storageKey, 500);

    const gotA = await download(`/v1/artifacts/${a.storageKey}`, await server.as('tenant-a'));
    assert.equal(gotA.status, 500, 'tenant A gets an error, not its corrupt bytes');
    assert.equal(JSON.parse(gotA.body.toString()).error.code, 'CORRUPTION');
    for (let i = 0; i < 2; i++) {
      const gotB = await download(`/v1/artifacts/${b.storageKey}`, await server.as('tenant-b'));
      assert.equal(gotB.status, 200);
      assert.ok(gotB.body.equals(content), "tenant B gets its own intact bytes");
    }
    // And once B's bytes are cached, A's corrupt copy is still not served as if whole.
    assert.equal((await download(`/v1/artifacts/${a.storageKey}`, await server.as('tenant-a'))).status, 500);
  });
});
