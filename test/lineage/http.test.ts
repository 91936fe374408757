import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { media } from '../fixtures/media.ts';
import { startTestServer } from '../server/server-harness.ts';
import type { TestServer } from '../server/server-harness.ts';
import { testDatabases } from '../catalog/databases.ts';

/** Lineage, find by id, PATCH metadata, presigned uploads' metadata and GET /v1/audit over loopback HTTP. */

interface Link { storageKey: string; artifactId: string; artifactType: string; deleted?: boolean }
interface Ref { storageKey: string; artifactId: string; metadata: Record<string, unknown>; inputs?: Link[]; outputs?: Link[]; visibility: string }

// Every server is started before any test is registered (see test/server/uploads.test.ts).
const suites: (() => unknown)[] = []; // describe() returns a promise node:test tracks itself
for (const database of testDatabases) {
  const server: TestServer = await startTestServer({ database });
  const alice = await server.as('alice');
  const bob = await server.as('bob');
  const service = { authorization: `Bearer ${await server.token({ role: 'service', sub: 'worker' })}` };

  async function call(method: string, path: string, headers: Record<string, string>, body?: unknown, raw?: { type: string; bytes: Uint8Array | string }): Promise<{ status: number; json: Record<string, unknown> }> {
    const init: RequestInit = { method, headers: { ...headers } };
    if (raw) {
      init.body = raw.bytes;
      (init.headers as Record<string, string>)['content-type'] = raw.type;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const response = await fetch(`${server.url}${path}`, init);
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) as Record<string, unknown> : {} };
  }

  suites.push(() => describe(`lineage over HTTP on ${database.name}`, () => {
    it('stores with ?input= (raw and multipart), shows inputs and outputs on GET /v1/info, lists outputs with ?input=', async () => {
      const lora = await call('POST', '/v1/artifacts?artifactType=lora&artifactId=style', alice, undefined, { type: 'application/octet-stream', bytes: new Uint8Array(40).fill(3) });
      assert.equal(lora.status, 201);
      const loraKey = lora.json.storageKey as string;
      const mask = await call('POST', '/v1/artifacts?artifactType=image&artifactId=mask&boardId=b1', alice, undefined, { type: 'image/png', bytes: media.png() });
      const maskKey = mask.json.storageKey as string;

      const raw = await call('POST', `/v1/artifacts?artifactType=image&artifactId=out&boardId=b1&input=${loraKey}&input=${maskKey}`, alice, undefined, { type: 'image/png', bytes: media.png() });
      assert.equal(raw.status, 201);
      const form = new FormData();
      form.append('input', maskKey);
      form.set('file', new Blob([Buffer.from('a caption')], { type: 'text/plain' }), 'caption.txt');
      const multipart = await fetch(`${server.url}/v1/artifacts?artifactType=text&input=${loraKey}`, { method: 'POST', headers: alice, body: form });
      assert.equal(multipart.status, 201);
      const caption = await multipart.json() as Ref;

      const info = (await call('GET', `/v1/info/${raw.json.storageKey as string}`, alice)).json as unknown as Ref;
      assert.deepEqual(info.inputs, [
        { storageKey: loraKey, artifactId: 'style', artifactType: 'lora' },
        { storageKey: maskKey, artifactId: 'mask', artifactType: 'image' },
      ].sort((a, b) => (a.storageKey < b.storageKey ? -1 : 1)));
      assert.deepEqual(info.outputs, []);
      const loraInfo = (await call('GET', `/v1/info/${loraKey}`, alice)).json as unknown as Ref;
      assert.deepEqual(loraInfo.outputs!.map((o) => o.storageKey), [raw.json.storageKey as string, caption.storageKey].sort());
      assert.deepEqual(((await call('GET', `/v1/info/${caption.storageKey}`, alice)).json as unknown as Ref).inputs!.map((l) => l.storageKey), [loraKey, maskKey].sort(), 'the query\'s input and the multipart field');

      const outputs = await call('GET', `/v1/artifacts?input=${loraKey}`, alice);
      assert.equal(outputs.status, 200);
      assert.deepEqual((outputs.json.items as Ref[]).map((i) => i.storageKey), [raw.json.storageKey as string, caption.storageKey].sort());
      assert.deepEqual(((await call('GET', `/v1/artifacts?input=${loraKey}&artifactType=text`, alice)).json.items as Ref[]).map((i) => i.storageKey), [caption.storageKey]);

      // The input goes; its outputs stay, and the link shows it as deleted.
      assert.equal((await call('DELETE', `/v1/artifacts/${loraKey}`, alice)).status, 204);
      const after = (await call('GET', `/v1/info/${caption.storageKey}`, alice)).json as unknown as Ref;
      assert.deepEqual(after.inputs!.find((l) => l.storageKey === loraKey), { storageKey: loraKey, artifactId: 'style', artifactType: 'lora', deleted: true });
      assert.equal(await (await fetch(`${server.url}/v1/artifacts/${caption.storageKey}`, { headers: alice })).text(), 'a caption');
      assert.equal(((await call('GET', `/v1/artifacts?input=${loraKey}`, alice)).json.items as Ref[]).length, 2, 'the outputs of a deleted input are still found');
    });

    it('refuses another tenant\'s input exactly like a missing one and never lists another tenant\'s outputs', async () => {
      const bobs = await call('POST', '/v1/artifacts?artifactType=image&artifactId=bobs', bob, undefined, { type: 'image/png', bytes: media.png() });
      const bobKey = bobs.json.storageKey as string;
      assert.equal((await call('POST', `/v1/artifacts?artifactType=image&input=${bobKey}`, bob, undefined, { type: 'image/png', bytes: media.png() })).status, 201);
      const missing = bobKey.replace(/^bob\//, 'alice/');
      const foreign = await call('POST', `/v1/artifacts?artifactType=image&input=${bobKey}`, alice, undefined, { type: 'image/png', bytes: media.png() });
      const absent = await call('POST', `/v1/artifacts?artifactType=image&input=${missing}`, alice, undefined, { type: 'image/png', bytes: media.png() });
      assert.equal(foreign.status, 400);
      assert.equal((foreign.json.error as { code: string }).code, 'INPUT_NOT_FOUND');
      assert.equal((foreign.json.error as { message: string }).message.replace(bobKey, 'K'), (absent.json.error as { message: string }).message.replace(missing, 'K'));
      assert.deepEqual((await call('GET', `/v1/artifacts?input=${bobKey}`, alice)).json.items, []);
      assert.equal(((await call('GET', `/v1/artifacts?input=${bobKey}`, bob)).json.items as Ref[]).length, 1);
      // A service token lists for the tenant it names.
      assert.equal(((await call('GET', `/v1/artifacts?input=${bobKey}&tenantId=bob`, service)).json.items as Ref[]).length, 1);
      assert.deepEqual((await call('GET', `/v1/artifacts?input=${bobKey}&tenantId=alice`, service)).json.items, []);
      const upload = await call('POST', '/v1/uploads', alice, { artifactType: 'image', contentType: 'image/png', inputs: [bobKey] });
      assert.equal(upload.status, 400);
      assert.equal((upload.json.error as { code: string }).code, 'INPUT_NOT_FOUND');
    });

    it('finds artifacts by id with ?artifactId=, within the caller\'s tenant', async () => {
      const a = await call('POST', '/v1/artifacts?artifactType=text&artifactId=gen-7', alice, undefined, { type: 'text/plain', bytes: 'one' });
      await call('POST', '/v1/artifacts?artifactType=text&artifactId=gen-7', bob, undefined, { type: 'text/plain', bytes: 'theirs' });
      const found = await call('GET', '/v1/artifacts?artifactId=gen-7', alice);
      assert.deepEqual((found.json.items as Ref[]).map((i) => i.storageKey), [a.json.storageKey]);
      assert.equal((await call('GET', '/v1/artifacts?artifactId=..', alice)).status, 400);
    });

    it('PATCH /v1/info merges metadata, removes keys set to null, refuses what a store would refuse (400), and audit-logs', async () => {
      const stored = await call('POST', '/v1/artifacts?artifactType=text&artifactId=meta&boardId=b9', alice, undefined, { type: 'text/plain', bytes: 'words' });
      const key = stored.json.storageKey as string;
      await server.storage.updateMetadata(key, { prompt: 'a fox', draft: true });
      const patched = await call('PATCH', `/v1/info/${key}`, alice, { metadata: { seed: 3, draft: null } });
      assert.equal(patched.status, 200);
      assert.deepEqual(patched.json.metadata, { prompt: 'a fox', seed: 3 });
      assert.deepEqual(((await call('GET', `/v1/info/${key}`, alice)).json as unknown as Ref).metadata, { prompt: 'a fox', seed: 3 });
      const both = await call('PATCH', `/v1/info/${key}`, alice, { metadata: { seed: 4 }, visibility: 'public' });
      assert.equal(both.status, 200);
      assert.deepEqual([both.json.visibility, (both.json.metadata as Record<string, unknown>).seed], ['public', 4]);

      const tooBig = await call('PATCH', `/v1/info/${key}`, alice, { metadata: { big: 'x'.repeat(17 * 1024) } });
      assert.equal(tooBig.status, 400);
      assert.match((tooBig.json.error as { message: string }).message, /larger than 16384 bytes/);
      assert.equal((await call('PATCH', `/v1/info/${key}`, alice, { metadata: 'nope' })).status, 400);
      assert.equal((await call('PATCH', `/v1/info/${key}`, alice, {})).status, 400);
      assert.equal((await call('PATCH', `/v1/info/${key}`, alice, { metadata: { a: 1 }, other: 1 })).status, 400);
      assert.deepEqual(((await call('GET', `/v1/info/${key}`, alice)).json as unknown as Ref).metadata, { prompt: 'a fox', seed: 4 });

      const audit = await call('GET', `/v1/audit?key=${key}`, alice);
      assert.equal(audit.status, 200);
      const events = audit.json.items as { action: string; actor?: string; boardId?: string; details: Record<string, unknown> }[];
      assert.deepEqual(events.map((e) => e.action), ['visibility_changed', 'metadata_changed', 'metadata_changed', 'metadata_changed', 'stored']);
      assert.equal(events[1]!.actor, 'user-1');
      assert.equal(events[1]!.boardId, 'b9');
      assert.deepEqual(events[2]!.details, { set: ['seed'], removed: ['draft'] });
    });

    it('records the metadata and inputs given at POST /v1/uploads when the direct upload completes', async () => {
      const input = await call('POST', '/v1/artifacts?artifactType=image&artifactId=ref', alice, undefined, { type: 'image/png', bytes: media.png() });
      const inputKey = input.json.storageKey as string;
      const created = await call('POST', '/v1/uploads', alice, { artifactType: 'text', contentType: 'text/plain', artifactId: 'direct', metadata: { prompt: 'describe it' }, inputs: [inputKey] });
      assert.equal(created.status, 201);
      const put = await fetch(created.json.url as string, { method: created.json.method as string, headers: created.json.headers as Record<string, string>, body: 'a description' });
      assert.ok(put.ok, `PUT answered ${put.status} ${await put.text()}`);
      const done = await call('POST', `/v1/uploads/${created.json.storageKey as string}/complete`, alice);
      assert.equal(done.status, 201);
      assert.deepEqual(done.json.metadata, { prompt: 'describe it' });
      const info = (await call('GET', `/v1/info/${created.json.storageKey as string}`, alice)).json as unknown as Ref;
      assert.deepEqual(info.metadata, { prompt: 'describe it' });
      assert.deepEqual(info.inputs, [{ storageKey: inputKey, artifactId: 'ref', artifactType: 'image' }]);
      assert.equal((await call('POST', '/v1/uploads', alice, { artifactType: 'text', contentType: 'text/plain', metadata: [1] })).status, 400);
    });

    it('carries metadata and inputs through a TUS upload (Upload-Metadata `metadata` and `inputs`), refusing a foreign input at creation', async () => {
      const input = await call('POST', '/v1/artifacts?artifactType=image&artifactId=tus-ref', alice, undefined, { type: 'image/png', bytes: media.png() });
      const inputKey = input.json.storageKey as string;
      const header = (meta: Record<string, string>) => Object.entries(meta).map(([k, v]) => `${k} ${Buffer.from(v).toString('base64')}`).join(',');
      const tus = (auth: Record<string, string>, meta: Record<string, string>, body: string) => fetch(`${server.url}/v1/uploads/tus`, {
        method: 'POST',
        headers: { ...auth, 'tus-resumable': '1.0.0', 'upload-length': String(Buffer.byteLength(body)), 'upload-metadata': header(meta), 'content-type': 'application/offset+octet-stream' },
        body,
      });
      const done = await tus(alice, { artifactType: 'text', contentType: 'text/plain', filename: 'notes.txt', metadata: JSON.stringify({ prompt: 'resumable' }), inputs: inputKey }, 'resumable words');
      assert.equal(done.status, 201, await done.clone().text());
      const key = done.headers.get('storage-key')!;
      const info = (await call('GET', `/v1/info/${key}`, alice)).json as unknown as Ref;
      assert.deepEqual(info.metadata, { prompt: 'resumable', filename: 'notes.txt' });
      assert.deepEqual(info.inputs, [{ storageKey: inputKey, artifactId: 'tus-ref', artifactType: 'image' }]);

      const foreign = await tus(bob, { artifactType: 'text', contentType: 'text/plain', inputs: inputKey }, 'x');
      assert.equal(foreign.status, 400);
      assert.equal(((await foreign.json()) as { error: { code: string } }).error.code, 'INPUT_NOT_FOUND');
      assert.equal((await tus(alice, { artifactType: 'text', contentType: 'text/plain', metadata: '[1]' }, 'x')).status, 400);
    });

    it('GET /v1/audit reads only the caller\'s tenant: by key, by board, by time, a page at a time', async () => {
      const start = new Date().toISOString();
      const a = await call('POST', '/v1/artifacts?artifactType=text&boardId=audited', alice, undefined, { type: 'text/plain', bytes: 'a' });
      const b = await call('POST', '/v1/artifacts?artifactType=text&boardId=audited', alice, undefined, { type: 'text/plain', bytes: 'b' });
      await call('POST', '/v1/artifacts?artifactType=text&boardId=audited', bob, undefined, { type: 'text/plain', bytes: 'bob' });
      await call('DELETE', `/v1/artifacts/${b.json.storageKey as string}`, alice);

      const board = await call('GET', '/v1/audit?boardId=audited', alice);
      assert.deepEqual((board.json.items as { action: string; storageKey: string }[]).map((e) => [e.action, e.storageKey]), [
        ['deleted', b.json.storageKey], ['stored', b.json.storageKey], ['stored', a.json.storageKey],
      ]);
      const page1 = await call('GET', '/v1/audit?boardId=audited&limit=2', alice);
      assert.equal((page1.json.items as unknown[]).length, 2);
      const page2 = await call('GET', `/v1/audit?boardId=audited&limit=2&cursor=${page1.json.nextCursor as string}`, alice);
      assert.deepEqual((page2.json.items as { storageKey: string }[]).map((e) => e.storageKey), [a.json.storageKey]);
      assert.equal(page2.json.nextCursor, undefined);
      assert.equal(((await call('GET', `/v1/audit?boardId=audited&since=${start}`, alice)).json.items as unknown[]).length, 3);
      assert.deepEqual((await call('GET', `/v1/audit?boardId=audited&until=${start}`, alice)).json.items, []);
      assert.equal((await call('GET', '/v1/audit?since=yesterday', alice)).status, 400);
      assert.equal((await call('GET', '/v1/audit?cursor=bad!', alice)).status, 400);

      // Bob sees only his own event on the board of the same name, and nothing of alice's key.
      assert.deepEqual(((await call('GET', '/v1/audit?boardId=audited', bob)).json.items as { tenantId: string }[]).map((e) => e.tenantId), ['bob']);
      assert.deepEqual((await call('GET', `/v1/audit?key=${a.json.storageKey as string}`, bob)).json.items, []);
      assert.equal((await call('GET', '/v1/audit?tenantId=alice', bob)).status, 403);
      // A service token reads the tenant it names.
      assert.equal(((await call('GET', `/v1/audit?key=${a.json.storageKey as string}&tenantId=alice`, service)).json.items as unknown[]).length, 1);
      assert.equal((await call('GET', '/v1/audit', service)).status, 401);
    });

    it('documents the new routes and fields in the OpenAPI document', async () => {
      const doc = await (await fetch(`${server.url}/openapi.json`)).json() as { paths: Record<string, Record<string, { parameters?: { name: string }[]; requestBody?: unknown }>>; components: { schemas: Record<string, { properties?: Record<string, unknown> }> } };
      assert.ok(doc.paths['/v1/audit']?.get, 'GET /v1/audit');
      const list = doc.paths['/v1/artifacts']!.get!.parameters!.map((p) => p.name);
      assert.ok(list.includes('input') && list.includes('artifactId'));
      assert.ok(doc.paths['/v1/artifacts']!.post!.parameters!.some((p) => p.name === 'input'));
      assert.ok(JSON.stringify(doc.paths['/v1/info/{storageKey}']!.patch!.requestBody).includes('metadata'));
      assert.ok(JSON.stringify(doc.paths['/v1/uploads']!.post!.requestBody).includes('inputs'));
      const ref = Object.values(doc.components.schemas).find((s) => s.properties?.outputsTruncated);
      assert.ok(ref?.properties?.inputs && ref.properties.outputs, 'the reference schema has inputs and outputs');
    });
  }));
}
for (const suite of suites) suite();
