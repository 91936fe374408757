import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactReference } from '../../src/index.ts';
import { media } from '../fixtures/media.ts';
import { testDatabases } from '../catalog/databases.ts';
import type { TestDatabase } from '../catalog/databases.ts';
import { startTestServer } from '../server/server-harness.ts';
import { readZip } from './zip-reader.ts';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

interface BoardItem { boardId: string; artifacts: number; bytes: number; lastActivity: string; cover?: { storageKey: string; thumbnailKey?: string; artifactId: string } }

async function boardFixture(database: TestDatabase) {
  // Started at the top level: an `after` registered inside a `before` hook would close it early.
  const server = await startTestServer({ database });
  const refs: Record<string, ArtifactReference> = {};
  const store = async (name: string, tenantId: string, boardId: string | undefined, artifactType: string, contentType: string, content: Uint8Array | string, metadata: Record<string, unknown> = {}) => {
    refs[name] = await server.storage.storeArtifact({ artifactId: name.replace(/-.*$/, ''), artifactType, contentType, content, tenantId, ...(boardId ? { boardId } : {}), metadata });
    // Distinct creation times: the cover is the newest image.
    await new Promise((r) => setTimeout(r, 5));
  };
  await store('cat', 't1', 'b1', 'image', 'image/png', media.png(3000), { prompt: 'a cat' });
  await store('fox', 't1', 'b1', 'image', 'image/png', media.png(5000), { prompt: 'a fox', seed: 7 });
  const thumb = await server.storage.storeVariant(refs.fox!.storageKey, 'thumb_64.png', media.png(700));
  await store('notes', 't1', 'b1', 'text', 'text/plain', 'words about a fox');
  await store('fox-again', 't1', 'b1', 'image', 'image/png', media.png(200));
  await store('poem', 't1', 'b2', 'text', 'text/plain', 'a board without images');
  await store('loose', 't1', undefined, 'text', 'text/plain', 'no board at all');
  await store('secretdoc', 't1', 'secret', 'text', 'text/plain', 'tenant one only');
  await store('other', 't2', 'b1', 'text', 'text/plain', 'tenant two');
  return {
    server, refs, thumb,
    t1: await server.as('t1'), t2: await server.as('t2'),
    service: { authorization: `Bearer ${await server.token({ role: 'service' })}` },
  };
}

// Every server is started before any test is registered: the root's `after` hooks (which close
// them) must not run while a later server is still starting.
const fixtures: { database: TestDatabase; fixture: Awaited<ReturnType<typeof boardFixture>> }[] = [];
for (const database of testDatabases) fixtures.push({ database, fixture: await boardFixture(database) });

for (const { database, fixture: { server, refs, thumb, t1, t2, service } } of fixtures) {
  describe(`boards API on ${database.name}`, () => {
    async function boards(auth: Record<string, string>, query = ''): Promise<{ status: number; body: { items: BoardItem[]; nextCursor?: string; error?: { code: string } } }> {
      const res = await fetch(`${server.url}/v1/boards${query}`, { headers: auth });
      return { status: res.status, body: await res.json() as never };
    }

    it('lists the caller\'s boards with counts, bytes, last activity and the newest image as cover', async () => {
      const { status, body } = await boards(t1);
      assert.equal(status, 200);
      assert.deepEqual(body.items.map((b) => b.boardId), ['b1', 'b2', 'secret']);
      const b1 = body.items[0]!;
      // Variants are not artifacts, but their bytes count.
      assert.equal(b1.artifacts, 4);
      assert.equal(b1.bytes, 3000 + 5000 + thumb.size + Buffer.byteLength('words about a fox') + 200);
      assert.equal(b1.lastActivity, refs['fox-again']!.createdAt);
      assert.deepEqual(b1.cover && { key: b1.cover.storageKey, id: b1.cover.artifactId }, { key: refs['fox-again']!.storageKey, id: 'fox' });
      assert.equal(b1.cover?.thumbnailKey, undefined, 'the newest image has no thumbnail');
      assert.equal(body.items[1]!.cover, undefined, 'a board without images has no cover');
      assert.deepEqual(body.items[1]!.artifacts, 1);
    });

    it('names the cover\'s thumbnail variant', async () => {
      // Delete the gif: the fox with its thumbnail becomes the newest image.
      const res = await fetch(`${server.url}/v1/artifacts/${refs['fox-again']!.storageKey}`, { method: 'DELETE', headers: t1 });
      assert.equal(res.status, 204);
      const b1 = (await boards(t1)).body.items[0]!;
      assert.deepEqual([b1.artifacts, b1.cover?.storageKey, b1.cover?.thumbnailKey], [3, refs.fox!.storageKey, thumb.storageKey]);
      const restored = await fetch(`${server.url}/v1/trash/${refs['fox-again']!.storageKey}/restore`, { method: 'POST', headers: t1 });
      assert.equal(restored.status, 200);
    });

    it('pages with a cursor and refuses cursors it did not issue', async () => {
      const first = await boards(t1, '?limit=2');
      assert.deepEqual(first.body.items.map((b) => b.boardId), ['b1', 'b2']);
      assert.ok(first.body.nextCursor);
      const second = await boards(t1, `?limit=2&cursor=${first.body.nextCursor}`);
      assert.deepEqual(second.body.items.map((b) => b.boardId), ['secret']);
      assert.equal(second.body.nextCursor, undefined);
      const bad = await boards(t1, '?cursor=not-a-cursor!');
      assert.equal(bad.status, 400);
    });

    it('isolates tenants: another tenant sees only its own boards, and gets 404 for the others\'', async () => {
      const { body } = await boards(t2);
      assert.deepEqual(body.items.map((b) => [b.boardId, b.artifacts]), [['b1', 1]]);
      const routes: [string, string, Record<string, string>?][] = [
        ['GET', '/v1/boards/secret/archive'],
        ['DELETE', '/v1/boards/secret'],
        ['POST', '/v1/boards/secret/copy', { 'content-type': 'application/json' }],
      ];
      for (const [method, path, extra] of routes) {
        const res = await fetch(`${server.url}${path}`, { method, headers: { ...t2, ...extra }, ...(method === 'POST' ? { body: JSON.stringify({ toBoardId: 'stolen' }) } : {}) });
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
      }
      // Nothing happened to tenant one's board.
      assert.equal((await boards(t1)).body.items.find((b) => b.boardId === 'secret')?.artifacts, 1);
      assert.equal((await boards(t2)).body.items.length, 1, 'tenant two got no copy');
      // A service token acts for the tenant it names.
      assert.deepEqual((await boards({ ...service, 'x-tenant-id': 't1' })).body.items.map((b) => b.boardId), ['b1', 'b2', 'secret']);
      assert.equal((await fetch(`${server.url}/v1/boards`)).status, 401);
    });

    it('streams a board as a zip with manifest.json, every file matching its SHA-256', async () => {
      const res = await fetch(`${server.url}/v1/boards/b1/archive`, { headers: t1 });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/zip');
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="?b1\.zip"?$/);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(Number(res.headers.get('content-length')), body.length);
      const { names, files } = await readZip(body);
      assert.equal(names[0], 'manifest.json');
      // Two artifacts named fox: the second name carries its key's unique suffix.
      const foxAgainSuffix = refs['fox-again']!.storageKey.split('/').at(-2)!.slice(-8);
      const foxFirst = refs.fox!.storageKey < refs['fox-again']!.storageKey;
      const expected: Record<string, ArtifactReference> = {
        'image/cat.png': refs.cat!,
        [foxFirst ? 'image/fox.png' : `image/fox_${refs.fox!.storageKey.split('/').at(-2)!.slice(-8)}.png`]: refs.fox!,
        [foxFirst ? `image/fox_${foxAgainSuffix}.png` : 'image/fox.png']: refs['fox-again']!,
        'text/notes.txt': refs.notes!,
      };
      assert.deepEqual(names.slice(1).sort(), Object.keys(expected).sort());
      for (const [name, ref] of Object.entries(expected)) {
        assert.equal(files.get(name)!.sha256, ref.sha256, name);
        assert.equal(files.get(name)!.size, ref.size, name);
      }
      const manifest = JSON.parse(files.get('manifest.json')!.bytes!.toString()) as { boardId: string; tenantId: string; count: number; bytes: number; artifacts: { file: string; storageKey: string; sha256: string; size: number; artifactType: string; contentType: string; metadata: Record<string, unknown> }[] };
      assert.deepEqual([manifest.boardId, manifest.tenantId, manifest.count], ['b1', 't1', 4]);
      assert.equal(manifest.bytes, Object.values(expected).reduce((sum, r) => sum + r.size, 0));
      for (const entry of manifest.artifacts) {
        const ref = expected[entry.file]!;
        assert.deepEqual([entry.storageKey, entry.sha256, entry.size, entry.artifactType, entry.contentType], [ref.storageKey, ref.sha256, ref.size, ref.artifactType, ref.contentType]);
        assert.equal(files.get(entry.file)!.sha256, entry.sha256);
      }
      assert.deepEqual(manifest.artifacts.find((a) => a.storageKey === refs.fox!.storageKey)?.metadata, { prompt: 'a fox', seed: 7 });
      assert.ok(!names.some((n) => n.includes('thumb')), 'variants are not artifacts of the archive');
    });

    it('filters the archive by type, artifact id and keys', async () => {
      const zipOf = async (query: string) => {
        const res = await fetch(`${server.url}/v1/boards/b1/archive${query}`, { headers: t1 });
        assert.equal(res.status, 200, query);
        return readZip(Buffer.from(await res.arrayBuffer()));
      };
      assert.deepEqual((await zipOf('?type=text')).names, ['manifest.json', 'text/notes.txt']);
      assert.deepEqual((await zipOf('?artifactId=cat,notes')).names, ['manifest.json', 'image/cat.png', 'text/notes.txt']);
      const byKey = await zipOf(`?keys=${refs.cat!.storageKey}&keys=${refs.notes!.storageKey}`);
      assert.deepEqual(byKey.names, ['manifest.json', 'image/cat.png', 'text/notes.txt']);
      const manifest = JSON.parse(byKey.files.get('manifest.json')!.bytes!.toString()) as { filter: { storageKeys: string[] } };
      assert.deepEqual(manifest.filter.storageKeys, [refs.cat!.storageKey, refs.notes!.storageKey]);
      // Another board's key selects nothing from this one.
      const foreign = await fetch(`${server.url}/v1/boards/b1/archive?keys=${refs.poem!.storageKey}`, { headers: t1 });
      assert.equal(foreign.status, 404);
      const unsafe = await fetch(`${server.url}/v1/boards/b1/archive?artifactId=..`, { headers: t1 });
      assert.equal(unsafe.status, 400);
    });

    it('cuts the archive short when an artifact fails its SHA-256 check (verified reads)', async () => {
      const bad = await server.storage.storeArtifact({ artifactId: 'rotten', artifactType: 'text', contentType: 'text/plain', content: 'x'.repeat(300_000), tenantId: 't1', boardId: 'rot' });
      await server.storage.storeArtifact({ artifactId: 'fine', artifactType: 'text', contentType: 'text/plain', content: 'fine', tenantId: 't1', boardId: 'rot' });
      await writeFile(join(server.filesDir, bad.storageKey), 'y'.repeat(300_000));
      const res = await fetch(`${server.url}/v1/boards/rot/archive`, { headers: t1 });
      assert.equal(res.status, 200);
      await assert.rejects(res.arrayBuffer(), 'the client sees the response fail');
      // The server is fine afterwards.
      assert.equal((await boards(t1)).status, 200);
    });

    it('copies a board with its variants, verified, to new keys and rows; 409 onto a board that has artifacts', async () => {
      const res = await fetch(`${server.url}/v1/boards/b1/copy`, { method: 'POST', headers: { ...t1, 'content-type': 'application/json' }, body: JSON.stringify({ toBoardId: 'b1-copy' }) });
      assert.equal(res.status, 201);
      const result = await res.json() as { toBoardId: string; copied: number; variants: number; bytes: number; serverSide: number };
      assert.deepEqual(result, { boardId: 'b1', toBoardId: 'b1-copy', copied: 4, variants: 1, bytes: 3000 + 5000 + 700 + 17 + 200, serverSide: 5 });
      const copies = (await server.storage.listArtifacts({ tenantId: 't1', boardId: 'b1-copy' })).items;
      assert.equal(copies.length, 4);
      const originals = [refs.cat!, refs.fox!, refs.notes!, refs['fox-again']!];
      for (const copy of copies) {
        assert.match(copy.storageKey, new RegExp(`^t1/${copy.artifactType}/b1-copy/${copy.artifactId}_\\d{14}_[0-9a-f]{8}/original\\.`));
        const source = originals.find((o) => o.artifactId === copy.artifactId && o.size === copy.size)!;
        assert.deepEqual([copy.sha256, copy.size, copy.metadata], [source.sha256, source.size, source.metadata]);
        assert.equal(sha256(await server.storage.download(copy.storageKey)), source.sha256);
      }
      const fox = copies.find((c) => c.artifactId === 'fox' && c.size === 5000)!;
      assert.equal(fox.variants?.length, 1);
      assert.equal(fox.variants![0]!.storageKey, `${fox.storageKey.slice(0, fox.storageKey.lastIndexOf('/'))}/thumb_64.png`);
      assert.equal(sha256(await server.storage.download(fox.variants![0]!.storageKey)), thumb.sha256);
      // The source board is as it was.
      assert.equal((await server.storage.listArtifacts({ tenantId: 't1', boardId: 'b1' })).items.length, 4);
      const listed = (await boards(t1)).body.items.find((b) => b.boardId === 'b1-copy')!;
      assert.equal(listed.artifacts, 4);
      assert.ok(copies.some((c) => c.storageKey === listed.cover?.storageKey && c.contentType === 'image/png'), 'its cover is one of its own images');

      const again = await fetch(`${server.url}/v1/boards/b1/copy`, { method: 'POST', headers: { ...t1, 'content-type': 'application/json' }, body: JSON.stringify({ toBoardId: 'b1-copy' }) });
      assert.equal(again.status, 409);
      const generated = await fetch(`${server.url}/v1/boards/b2/copy`, { method: 'POST', headers: t1 });
      assert.equal(generated.status, 201);
      assert.match(((await generated.json()) as { toBoardId: string }).toBoardId, /^b2-copy-[0-9a-f]{8}$/);
    });

    it('deletes a board through the trash: gone from listings, each artifact restorable; 404 once empty', async () => {
      const copied = await server.storage.copyBoard('b2', { tenantId: 't1', toBoardId: 'doomed' });
      assert.equal(copied.copied, 1);
      const res = await fetch(`${server.url}/v1/boards/doomed`, { method: 'DELETE', headers: t1 });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { boardId: 'doomed', deleted: 1, trashed: true });
      assert.ok(!(await boards(t1)).body.items.some((b) => b.boardId === 'doomed'));
      const trash = await fetch(`${server.url}/v1/trash?boardId=doomed`, { headers: t1 });
      const trashed = ((await trash.json()) as { items: { storageKey: string }[] }).items;
      assert.equal(trashed.length, 1);
      assert.equal((await fetch(`${server.url}/v1/boards/doomed`, { method: 'DELETE', headers: t1 })).status, 404);
      const restore = await fetch(`${server.url}/v1/trash/${trashed[0]!.storageKey}/restore`, { method: 'POST', headers: t1 });
      assert.equal(restore.status, 200);
      assert.equal((await boards(t1)).body.items.find((b) => b.boardId === 'doomed')?.artifacts, 1);
    });

    it('serves the library calls the routes use', async () => {
      const page = await server.storage.listBoards({ tenantId: 't2' });
      assert.deepEqual(page.items.map((b) => b.boardId), ['b1']);
      const archive = await server.storage.openBoardArchive('b1', { tenantId: 't2' });
      const chunks: Buffer[] = [];
      for await (const chunk of archive.stream) chunks.push(chunk as Buffer);
      const zip = Buffer.concat(chunks);
      assert.equal(zip.length, archive.size);
      const { files } = await readZip(zip);
      assert.equal(files.get('text/other.txt')?.sha256, refs.other!.sha256);
      await assert.rejects(server.storage.deleteBoard('nope', { tenantId: 't2' }), { code: 'NOT_FOUND' });
      await assert.rejects(server.storage.copyBoard('b1', { tenantId: 't2', toBoardId: 'b1' }), { code: 'VALIDATION_FAILED' });
    });

    it('documents the board routes in the OpenAPI document', async () => {
      const doc = await (await fetch(`${server.url}/openapi.json`)).json() as { paths: Record<string, Record<string, unknown>> };
      assert.ok(doc.paths['/v1/boards']?.get);
      assert.ok(doc.paths['/v1/boards/{boardId}']?.delete);
      assert.ok(doc.paths['/v1/boards/{boardId}/copy']?.post);
      assert.ok(doc.paths['/v1/boards/{boardId}/archive']?.get);
    });
  });
}
