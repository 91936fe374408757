import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { media } from '../fixtures/media.ts';
import { eventually, jsonHeaders, startTestServer } from './server-harness.ts';
import { ValidationError } from '../../src/errors.ts';

/** Smaller findings of the attack: bidi controls in download names, and multipart bodies with two files. */

const server = await startTestServer();
const alice = await server.as('alice');
const ref = await server.put('alice', media.png(2000), 'image/png');

function multipart(boundary: string, parts: { name: string; filename?: string; type?: string; body: Uint8Array | string }[]): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}\r\n${p.type ? `Content-Type: ${p.type}\r\n` : ''}\r\n`));
    chunks.push(Buffer.from(p.body), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

describe('download file names', () => {
  const spoofs = ['invoice\u202Egnp.exe', 'a\u202Db.png', 'x\u2066y.png', 'x\u200Fy.png', 'x\u061Cy.png', 'x\u0085y.png'];
  it('refuse bidirectional text controls (extension spoofing) over HTTP, 400', async () => {
    for (const filename of spoofs) {
      const res = await fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(alice), body: JSON.stringify({ keys: [ref.storageKey], filename }) });
      assert.equal(res.status, 400, `${JSON.stringify(filename)}: ${res.status} ${await res.clone().text()}`);
      assert.match(((await res.json()) as { error: { message: string } }).error.message, /bidirectional/);
    }
    const fine = await fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(alice), body: JSON.stringify({ keys: [ref.storageKey], filename: 'Füchse.png' }) });
    assert.equal(fine.status, 200);
  });

  it('refuse them in the library too', async () => {
    await assert.rejects(server.storage.getDownloadUrl(ref.storageKey, undefined, { filename: 'invoice\u202Egnp.exe' }), ValidationError);
  });
});

describe('a multipart body', () => {
  it('with two file parts is a 400 and stores nothing (not the first silently)', async () => {
    const boundary = 'two-files-boundary';
    const body = multipart(boundary, [
      { name: 'file', filename: 'a.png', type: 'image/png', body: media.png(3000) },
      { name: 'file', filename: 'b.png', type: 'image/png', body: media.png(4000) },
    ]);
    const res = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { ...alice, 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
    assert.equal(res.status, 400, await res.clone().text());
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /more than one file part/);
    const keys = (await server.storage.listArtifacts({ tenantId: 'alice' })).items.map((i) => i.storageKey);
    assert.deepEqual(keys, [ref.storageKey]);
    assert.ok(await eventually(async () => (await readdir(join(server.filesDir, '~tmp'))).length === 0));
  });

  it('with one file part and fields around it is stored', async () => {
    const boundary = 'one-file-boundary';
    const png = media.png(3000);
    const body = multipart(boundary, [{ name: 'note', body: 'before' }, { name: 'file', filename: 'fox.png', type: 'image/png', body: png }, { name: 'after', body: 'x' }]);
    const res = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { ...alice, 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
    assert.equal(res.status, 201, await res.clone().text());
    assert.equal((await res.json() as { size: number }).size, png.length);
  });
});
