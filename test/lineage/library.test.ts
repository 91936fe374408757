import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGenerationContext, createStorageManager, NotFoundError, StorageError, ValidationError } from '../../src/index.ts';
import type { StorageManager } from '../../src/index.ts';
import { media } from '../fixtures/media.ts';
import { storedFiles } from '../helpers.ts';
import { testDatabases } from '../catalog/databases.ts';

/** Lineage, find by id, metadata updates, presigned uploads' metadata and the audit trail, through the library. */
for (const database of testDatabases) {
  describe(`lineage and the audit trail (library) on ${database.name}`, () => {
    async function open(extra: Record<string, unknown> = {}): Promise<{ storage: StorageManager; files: string }> {
      const { dataDir, databaseUrl } = await database.fresh();
      const files = join(dataDir, 'files');
      const storage = await createStorageManager({ config: { data_dir: dataDir, ...(databaseUrl ? { database_url: databaseUrl } : {}), providers: { local: { type: 'local', config: { base_path: files } } }, ...extra }, env: {} });
      return { storage, files };
    }

    it('records inputs, shows inputs and outputs, lists outputs, and keeps outputs (and the link, as deleted) when an input is deleted', async () => {
      const { storage } = await open();
      try {
        const lora = await storage.storeArtifact({ artifactId: 'style', artifactType: 'lora', contentType: 'application/octet-stream', content: new Uint8Array(64).fill(7), tenantId: 't1' });
        const reference = await storage.storeArtifact({ artifactId: 'ref', artifactType: 'image', contentType: 'image/png', content: media.png(), tenantId: 't1', boardId: 'b1' });
        const made = await storage.storeArtifact({ artifactId: 'out1', artifactType: 'image', contentType: 'image/png', content: media.png(), tenantId: 't1', boardId: 'b1', inputs: [lora.storageKey, reference.storageKey, lora.storageKey] });
        const other = await storage.storeArtifact({ artifactId: 'out2', artifactType: 'text', contentType: 'text/plain', content: 'caption', tenantId: 't1', boardId: 'b2', inputs: [lora.storageKey] });

        const info = await storage.getArtifact(made.storageKey);
        assert.deepEqual(info.inputs, [
          { storageKey: lora.storageKey, artifactId: 'style', artifactType: 'lora' },
          { storageKey: reference.storageKey, artifactId: 'ref', artifactType: 'image' },
        ].sort((a, b) => (a.storageKey < b.storageKey ? -1 : 1)));
        assert.deepEqual(info.outputs, []);
        const loraInfo = await storage.getArtifact(lora.storageKey);
        assert.deepEqual(loraInfo.inputs, []);
        assert.deepEqual(loraInfo.outputs!.map((o) => o.storageKey), [made.storageKey, other.storageKey].sort());

        // "Which images used this LoRA?"
        assert.deepEqual((await storage.listArtifacts({ tenantId: 't1', input: lora.storageKey })).items.map((i) => i.storageKey), [made.storageKey, other.storageKey].sort());
        assert.deepEqual((await storage.listArtifacts({ tenantId: 't1', input: lora.storageKey, artifactType: 'image' })).items.map((i) => i.storageKey), [made.storageKey]);
        assert.deepEqual((await storage.listArtifacts({ tenantId: 't1', input: lora.storageKey, boardId: 'b2' })).items.map((i) => i.storageKey), [other.storageKey]);
        const first = await storage.listArtifacts({ tenantId: 't1', input: lora.storageKey, limit: 1 });
        assert.equal(first.items.length, 1);
        const second = await storage.listArtifacts({ tenantId: 't1', input: lora.storageKey, limit: 1, cursor: first.nextCursor! });
        assert.deepEqual([...first.items, ...second.items].map((i) => i.storageKey), [made.storageKey, other.storageKey].sort());
        assert.equal(second.nextCursor, undefined);
        await assert.rejects(storage.listArtifacts({ tenantId: 't1', input: lora.storageKey, prefix: 'image/' }), ValidationError);

        // Deleting the input (to the trash, then for good) never deletes its outputs.
        assert.equal(await storage.deleteArtifact(lora.storageKey), true);
        assert.equal(Buffer.from(await storage.download(made.storageKey)).length, made.size);
        const afterDelete = await storage.getArtifact(made.storageKey);
        assert.deepEqual(afterDelete.inputs!.find((l) => l.storageKey === lora.storageKey), { storageKey: lora.storageKey, artifactId: 'style', artifactType: 'lora', deleted: true });
        assert.equal(afterDelete.inputs!.find((l) => l.storageKey === reference.storageKey)!.deleted, undefined);
        assert.equal((await storage.listArtifacts({ tenantId: 't1', input: lora.storageKey })).items.length, 2, 'the outputs of a deleted input are still found');
        await storage.undelete(lora.storageKey);
        assert.equal((await storage.getArtifact(made.storageKey)).inputs!.find((l) => l.storageKey === lora.storageKey)!.deleted, undefined, 'restored: no longer deleted');
        assert.equal(await storage.deleteArtifact(lora.storageKey, undefined, { permanent: true }), true);
        assert.equal((await storage.getArtifact(made.storageKey)).inputs!.find((l) => l.storageKey === lora.storageKey)!.deleted, true);

        // A deleted output shows as deleted on its input, and drops out of the listing.
        await storage.deleteArtifact(other.storageKey);
        const refInfo = await storage.getArtifact(reference.storageKey);
        assert.deepEqual(refInfo.outputs, [{ storageKey: made.storageKey, artifactId: 'out1', artifactType: 'image' }]);
        assert.deepEqual((await storage.listArtifacts({ tenantId: 't1', input: lora.storageKey })).items.map((i) => i.storageKey), [made.storageKey]);

        // The store's audit entry names its inputs.
        const stored = (await storage.catalog.auditTrail(made.storageKey)).find((e) => e.action === 'stored')!;
        assert.deepEqual((stored.details!.inputs as string[]).sort(), [lora.storageKey, reference.storageKey].sort());
      } finally {
        await storage.close();
      }
    });

    it('refuses inputs of another tenant exactly like missing ones, before any byte moves', async () => {
      const { storage, files } = await open();
      try {
        const theirs = await storage.storeArtifact({ artifactId: 'secret', artifactType: 'image', contentType: 'image/png', content: media.png(), tenantId: 't2' });
        const mine = await storage.storeArtifact({ artifactId: 'mine', artifactType: 'image', contentType: 'image/png', content: media.png(), tenantId: 't1' });
        const missing = theirs.storageKey.replace(/^t2\//, 't1/');
        const before = await storedFiles(files);
        const refusal = async (key: string) => {
          try {
            await storage.storeArtifact({ artifactId: 'x', artifactType: 'text', contentType: 'text/plain', content: 'x', tenantId: 't1', inputs: [mine.storageKey, key] });
          } catch (error) {
            assert.ok(error instanceof ValidationError);
            assert.equal(error.code, 'INPUT_NOT_FOUND');
            assert.equal(error.status, 400);
            return error.message.replace(key, 'KEY');
          }
          assert.fail('stored with a foreign input');
        };
        assert.equal(await refusal(theirs.storageKey), await refusal(missing), 'another tenant\'s key reads exactly like a missing one');
        assert.deepEqual(await storedFiles(files), before, 'nothing stored');
        await assert.rejects(storage.storeArtifact({ artifactId: 'x', artifactType: 'text', contentType: 'text/plain', content: 'x', tenantId: 't1', inputs: ['t1/../etc/passwd'] }), (e: unknown) => e instanceof StorageError && e.status === 400);
        await assert.rejects(storage.storeArtifact({ artifactId: 'x', artifactType: 'text', contentType: 'text/plain', content: 'x', tenantId: 't1', inputs: Array.from({ length: 101 }, (_, i) => `t1/text/x${i}_20260101000000_0000000${i % 10}/a.txt`) }), /at most 100 inputs/);
        // Listing the outputs of another tenant's artifact finds nothing, and says nothing.
        await storage.storeArtifact({ artifactId: 'derived', artifactType: 'text', contentType: 'text/plain', content: 'd', tenantId: 't2', inputs: [theirs.storageKey] });
        assert.deepEqual((await storage.listArtifacts({ tenantId: 't1', input: theirs.storageKey })).items, []);
        assert.equal((await storage.listArtifacts({ tenantId: 't2', input: theirs.storageKey })).items.length, 1);
      } finally {
        await storage.close();
      }
    });

    it('finds artifacts by artifact id within a tenant', async () => {
      const { storage } = await open();
      try {
        const a = await storage.storeArtifact({ artifactId: 'gen-42', artifactType: 'image', contentType: 'image/png', content: media.png(), tenantId: 't1', boardId: 'b1' });
        const b = await storage.storeArtifact({ artifactId: 'gen-42', artifactType: 'text', contentType: 'text/plain', content: 'prompt', tenantId: 't1' });
        await storage.storeArtifact({ artifactId: 'gen-43', artifactType: 'text', contentType: 'text/plain', content: 'other', tenantId: 't1' });
        await storage.storeArtifact({ artifactId: 'gen-42', artifactType: 'text', contentType: 'text/plain', content: 'theirs', tenantId: 't2' });
        assert.deepEqual((await storage.listArtifacts({ tenantId: 't1', artifactId: 'gen-42' })).items.map((i) => i.storageKey), [a.storageKey, b.storageKey].sort());
        assert.deepEqual((await storage.listArtifacts({ tenantId: 't1', artifactId: 'gen-42', artifactType: 'text' })).items.map((i) => i.storageKey), [b.storageKey]);
        assert.deepEqual((await storage.listArtifacts({ tenantId: 't3', artifactId: 'gen-42' })).items, []);
        await assert.rejects(storage.listArtifacts({ tenantId: 't1', artifactId: '../x' }), (e: unknown) => e instanceof StorageError && e.status === 400);
      } finally {
        await storage.close();
      }
    });

    it('updates metadata: merges, removes keys set to null, holds the store\'s limits, corrects media facts, audit-logs', async () => {
      const { storage } = await open();
      try {
        const ref = await storage.storeArtifact({ artifactId: 'img', artifactType: 'image', contentType: 'image/png', content: media.png(), tenantId: 't1', metadata: { prompt: 'a fox', seed: 1, draft: true } });
        const updated = await storage.updateMetadata(ref.storageKey, { seed: 2, draft: null, tags: ['fox'] }, { actor: 'alice' });
        assert.deepEqual(updated.metadata, { prompt: 'a fox', seed: 2, tags: ['fox'] });
        assert.deepEqual((await storage.getArtifact(ref.storageKey)).metadata, { prompt: 'a fox', seed: 2, tags: ['fox'] });
        const change = (await storage.catalog.auditTrail(ref.storageKey)).find((e) => e.action === 'metadata_changed')!;
        assert.equal(change.actor, 'alice');
        assert.deepEqual(change.details, { set: ['seed', 'tags'], removed: ['draft'] });

        // Over the store's 16 KiB: refused, nothing changed.
        await assert.rejects(storage.updateMetadata(ref.storageKey, { big: 'x'.repeat(17 * 1024) }), (e: unknown) => e instanceof ValidationError && /larger than 16384 bytes/.test(e.message));
        await assert.rejects(storage.updateMetadata(ref.storageKey, [] as never), ValidationError);
        await assert.rejects(storage.updateMetadata(ref.storageKey, null as never), ValidationError);
        assert.deepEqual((await storage.getArtifact(ref.storageKey)).metadata, { prompt: 'a fox', seed: 2, tags: ['fox'] });

        // A media fact the bytes contradict is corrected (media.caller_facts: correct, the default).
        const width = (await storage.getArtifact(ref.storageKey)).media!.width!;
        assert.equal((await storage.updateMetadata(ref.storageKey, { width: width + 100 })).metadata.width, width);
        await assert.rejects(storage.updateMetadata(`t1/image/nothing_20260101000000_00000000/original.png`, { a: 1 }), NotFoundError);
      } finally {
        await storage.close();
      }
      const strict = await open({ media: { caller_facts: 'refuse' } });
      try {
        const ref = await strict.storage.storeArtifact({ artifactId: 'img', artifactType: 'image', contentType: 'image/png', content: media.png(), tenantId: 't1' });
        const width = ref.media!.width!;
        await assert.rejects(strict.storage.updateMetadata(ref.storageKey, { width: width + 1 }), (e: unknown) => e instanceof StorageError && e.code === 'MEDIA_MISMATCH');
        assert.equal((await strict.storage.updateMetadata(ref.storageKey, { width })).metadata.width, width);
      } finally {
        await strict.storage.close();
      }
    });

    it('carries the metadata and inputs of a presigned upload into its record at completion', async () => {
      const { storage } = await open();
      try {
        const input = await storage.storeArtifact({ artifactId: 'mask', artifactType: 'image', contentType: 'image/png', content: media.png(), tenantId: 't1' });
        await assert.rejects(storage.getUploadUrl({ artifactId: 'up', artifactType: 'text', contentType: 'text/plain', tenantId: 't2', inputs: [input.storageKey] }), (e: unknown) => e instanceof StorageError && e.code === 'INPUT_NOT_FOUND');
        await assert.rejects(storage.getUploadUrl({ artifactId: 'up', artifactType: 'text', contentType: 'text/plain', tenantId: 't1', metadata: { big: 'x'.repeat(17 * 1024) } }), ValidationError);
        const upload = await storage.getUploadUrl({ artifactId: 'up', artifactType: 'text', contentType: 'text/plain', tenantId: 't1', metadata: { prompt: 'caption this' }, inputs: [input.storageKey] });
        await storage.acceptDirectUpload(upload.storageKey, Readable.from([Buffer.from('a caption')]), { contentType: 'text/plain', maxSize: 1024 });
        const ref = await storage.completeUpload(upload.storageKey, { tenantId: 't1' });
        assert.deepEqual(ref.metadata, { prompt: 'caption this' });
        const info = await storage.getArtifact(upload.storageKey);
        assert.deepEqual(info.metadata, { prompt: 'caption this' });
        assert.deepEqual(info.inputs, [{ storageKey: input.storageKey, artifactId: 'mask', artifactType: 'image' }]);
        assert.deepEqual((await storage.getArtifact(input.storageKey)).outputs!.map((o) => o.storageKey), [upload.storageKey]);

        const plain = await storage.getUploadUrl({ artifactId: 'plain', artifactType: 'text', contentType: 'text/plain', tenantId: 't1' });
        await storage.acceptDirectUpload(plain.storageKey, Readable.from([Buffer.from('x')]), { contentType: 'text/plain', maxSize: 1024 });
        assert.deepEqual((await storage.completeUpload(plain.storageKey, { tenantId: 't1' })).metadata, {});
      } finally {
        await storage.close();
      }
    });

    it('has the generation context record every artifact it resolved as inputs of what the job stores', async () => {
      const { storage } = await open();
      try {
        const lora = await storage.storeArtifact({ artifactId: 'style', artifactType: 'lora', contentType: 'application/octet-stream', content: new Uint8Array(32).fill(1), tenantId: 't1' });
        const image = await storage.storeArtifact({ artifactId: 'ref', artifactType: 'image', contentType: 'image/png', content: media.png(), tenantId: 't1' });
        const prompt = await storage.storeArtifact({ artifactId: 'prompt', artifactType: 'text', contentType: 'text/plain', content: 'a fox', tenantId: 't1' });
        const unused = await storage.storeArtifact({ artifactId: 'unused', artifactType: 'text', contentType: 'text/plain', content: 'not read', tenantId: 't1' });
        const context = createGenerationContext(storage, { generationId: 'gen1', jobId: 'job1', tenantId: 't1' });
        try {
          await context.resolveArtifact(lora.storageKey);
          await context.resolveArtifact(image);
          await context.resolveArtifact(`local://${image.storageKey}`);
          await context.storeTempFile('step.txt', 'an intermediate');
          await context.resolveArtifact('temp/job1/step.txt');
          const result = await context.storeTextResult({ content: 'a caption', format: 'text', inputs: [prompt.storageKey] });
          const info = await storage.getArtifact(result.storageKey);
          assert.deepEqual(info.inputs!.map((l) => l.storageKey), [lora.storageKey, image.storageKey, prompt.storageKey].sort(), 'resolved and named inputs; not the temp file, not the unused artifact');
          assert.deepEqual((await storage.listArtifacts({ tenantId: 't1', input: lora.storageKey })).items.map((i) => i.storageKey), [result.storageKey]);
          assert.deepEqual((await storage.listArtifacts({ tenantId: 't1', input: unused.storageKey })).items, []);

          // A resolved input deleted before the result is stored is left out; a named one is refused.
          await storage.deleteArtifact(image.storageKey);
          const later = await context.storeTextResult({ content: 'another caption', format: 'text', variant: 'second.txt' });
          assert.deepEqual((await storage.getArtifact(later.storageKey)).inputs!.map((l) => l.storageKey), [lora.storageKey]);
          await assert.rejects(context.storeTextResult({ content: 'x', format: 'text', variant: 'third.txt', inputs: [image.storageKey] }), (e: unknown) => e instanceof StorageError && e.code === 'INPUT_NOT_FOUND');
        } finally {
          await context.cleanup();
        }
      } finally {
        await storage.close();
      }
    });

    it('reads a tenant\'s audit trail by key, board and time, newest first, a page at a time', async () => {
      const { storage } = await open();
      try {
        const start = new Date();
        const a = await storage.storeArtifact({ artifactId: 'a', artifactType: 'text', contentType: 'text/plain', content: 'a', tenantId: 't1', boardId: 'b1', actor: 'alice' });
        const b = await storage.storeArtifact({ artifactId: 'b', artifactType: 'text', contentType: 'text/plain', content: 'b', tenantId: 't1', boardId: 'b2' });
        await storage.setVisibility(a.storageKey, 'public', { actor: 'alice' });
        await storage.updateMetadata(a.storageKey, { k: 'v' }, { actor: 'alice' });
        await storage.deleteArtifact(b.storageKey, undefined, { actor: 'bob' });
        await storage.storeArtifact({ artifactId: 'c', artifactType: 'text', contentType: 'text/plain', content: 'c', tenantId: 't2', boardId: 'b1' });

        const ofA = await storage.listAudit({ tenantId: 't1', storageKey: a.storageKey });
        assert.deepEqual(ofA.items.map((e) => e.action), ['metadata_changed', 'visibility_changed', 'stored']);
        assert.equal(ofA.items[0]!.actor, 'alice');
        assert.equal(ofA.items[0]!.boardId, 'b1');
        assert.deepEqual((await storage.listAudit({ tenantId: 't1', boardId: 'b2' })).items.map((e) => [e.action, e.storageKey]), [['deleted', b.storageKey], ['stored', b.storageKey]]);
        assert.deepEqual((await storage.listAudit({ tenantId: 't1', boardId: 'b1' })).items.every((e) => e.tenantId === 't1'), true, 'another tenant\'s board of the same name is not shown');
        assert.deepEqual((await storage.listAudit({ tenantId: 't2', storageKey: a.storageKey })).items, [], 'another tenant sees none of it');

        const all: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await storage.listAudit({ tenantId: 't1', limit: 2, ...(cursor ? { cursor } : {}) });
          assert.ok(page.items.length <= 2);
          all.push(...page.items.map((e) => e.id));
          cursor = page.nextCursor;
        } while (cursor);
        assert.equal(all.length, 5);
        assert.equal(new Set(all).size, 5, 'no event twice across pages');
        assert.deepEqual((await storage.listAudit({ tenantId: 't1', until: start })).items, []);
        assert.equal((await storage.listAudit({ tenantId: 't1', since: start })).items.length, 5);
        assert.deepEqual((await storage.listAudit({ tenantId: 't1', since: new Date(Date.now() + 60_000) })).items, []);
        await assert.rejects(storage.listAudit({ tenantId: 't1', cursor: 'not-a-cursor!' }), ValidationError);
        await assert.rejects(storage.listAudit({ tenantId: 't1', since: new Date('nope') }), ValidationError);
      } finally {
        await storage.close();
      }
    });
  });
}
