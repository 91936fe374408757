import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  AccessDeniedError, createGenerationContext, NotFoundError, SecurityError, StorageError, withGenerationContext,
} from '../../src/index.ts';
import type { GenerationContextOptions, StorageManager } from '../../src/index.ts';
import { media } from '../fixtures/media.ts';
import { tempDir } from '../helpers.ts';
import { RESULTS, startProviderServer, storedNothing, testStorage } from './provider-server.ts';
import type { ProviderServer } from './provider-server.ts';

let server: ProviderServer;
before(async () => { server = await startProviderServer(); });
after(() => server.close());

const TENANT = 'tenant1';

async function options(extra: Partial<GenerationContextOptions> = {}): Promise<GenerationContextOptions> {
  return {
    generationId: 'gen-1', jobId: 'job-1', tenantId: TENANT, allowHosts: [server.host], tempDir: await tempDir('jobcache'),
    connectTimeoutMs: 1000, idleTimeoutMs: 300, totalTimeoutMs: 5000, retries: 1, retryBaseDelayMs: 10,
    ...extra,
  };
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** Count the manager's reads, to prove that an input used twice is read once. */
function countingReads(storage: StorageManager): { reads: number } {
  const counter = { reads: 0 };
  const original = storage.openDownload.bind(storage);
  storage.openDownload = (...args) => {
    counter.reads++;
    return original(...args);
  };
  return counter;
}

describe('resolveArtifact', () => {
  it('returns local paths as they are, and refuses them when told to', async () => {
    const { storage } = await testStorage();
    const path = join(await tempDir('inputs'), 'mask.png');
    await writeFile(path, media.png());
    const ctx = createGenerationContext(storage, await options());
    assert.equal(await ctx.resolveArtifact(path), path);
    assert.equal(await ctx.resolveArtifact(pathToFileURL(path).href), path);
    await assert.rejects(ctx.resolveArtifact(join(dirname(path), 'missing.png')), NotFoundError);
    const strict = createGenerationContext(storage, await options({ allowLocalPaths: false }));
    await assert.rejects(strict.resolveArtifact(path), (e: unknown) => e instanceof SecurityError && e.details.reason === 'local_path_not_allowed');
    await ctx.cleanup();
  });

  it('reads an artifact, its key and its storage URL into one cached file', async () => {
    const { storage } = await testStorage();
    const ctx = createGenerationContext(storage, await options());
    const image = await ctx.storeImageResult({ storageUrl: `${server.origin}/results/image.png`, format: 'png', width: 1, height: 1 });
    const reads = countingReads(storage);
    const [first, concurrent] = await Promise.all([ctx.resolveArtifact(image), ctx.resolveArtifact(image)]);
    assert.equal(first, concurrent);
    assert.match(first, /[0-9a-f]{64}\.png$/);
    assert.deepEqual(await readFile(first), RESULTS['image.png']!.body);
    assert.equal(await ctx.resolveArtifact(image.storageKey), first);
    assert.equal(await ctx.resolveArtifact(image.storageUrl), first);
    assert.equal(reads.reads, 1, 'one input used several times is read once');
    await ctx.cleanup();
    assert.equal(await exists(first), false, 'cleanup removes the cache');
  });

  it("refuses another tenant's artifact", async () => {
    const { storage } = await testStorage();
    const other = await storage.storeArtifact({ artifactId: 'secret', artifactType: 'image', contentType: 'image/png', content: media.png(), tenantId: 'tenant2' });
    const ctx = createGenerationContext(storage, await options());
    await assert.rejects(ctx.resolveArtifact(other), AccessDeniedError);
    await assert.rejects(ctx.resolveArtifact(other.storageUrl), AccessDeniedError);
    await assert.rejects(ctx.resolveArtifact(other.storageKey), NotFoundError);
    await ctx.cleanup();
  });

  it('downloads a URL once, with the same guards as results', async () => {
    const { storage } = await testStorage();
    const ctx = createGenerationContext(storage, await options());
    const hits = server.hits.get('/results/video.mp4') ?? 0;
    const target = `${server.origin}/results/video.mp4`;
    const [a, b] = await Promise.all([ctx.resolveArtifact(target), ctx.resolveArtifact(new URL(target))]);
    assert.equal(a, b);
    assert.equal(await ctx.resolveArtifact(`${target}#fragment`), a);
    assert.match(a, /url-[0-9a-f]{32}\.mp4$/);
    assert.deepEqual(await readFile(a), RESULTS['video.mp4']!.body);
    assert.equal(server.hits.get('/results/video.mp4'), hits + 1);

    await assert.rejects(ctx.resolveArtifact(`${server.origin}/to-metadata`), (e: unknown) => e instanceof SecurityError && e.details.kind === 'metadata');
    await assert.rejects(ctx.resolveArtifact(`${server.origin}/large`), (e: unknown) => e instanceof StorageError && e.code === 'CONTENT_TOO_LARGE');
    await assert.rejects(ctx.resolveArtifact('gopher://127.0.0.1/x'), SecurityError);
    const unguarded = createGenerationContext(storage, await options({ allowHosts: [] }));
    await assert.rejects(unguarded.resolveArtifact(target), (e: unknown) => e instanceof SecurityError && /loopback/.test(e.message));
    await ctx.cleanup();
    await unguarded.cleanup();
  });
});

describe('temporary files and cleanup', () => {
  it('keeps intermediates under temp/{jobId}/ with an expiry, and cleanup removes them', async () => {
    const t = await testStorage();
    const ctx = createGenerationContext(t.storage, await options());
    const before = Date.now();
    const temp = await ctx.storeTempFile('latents.bin', new Uint8Array(64));
    assert.equal(temp.storageKey, 'temp/job-1/latents.bin');
    assert.equal(temp.contentType, 'application/octet-stream');
    const recorded = await t.storage.catalog.get(temp.storageKey);
    assert.equal(recorded?.jobId, 'job-1');
    const expires = Date.parse(recorded!.expiresAt!);
    assert.ok(expires >= before + 23.9 * 3600_000 && expires <= Date.now() + 24.1 * 3600_000, 'expires in about 24 h');
    const mask = await ctx.storeTempFile('mask.png', media.png(), { expiresAt: new Date(Date.now() + 60_000) });
    assert.equal(mask.contentType, 'image/png');
    const local = await ctx.resolveArtifact(mask.storageKey);
    assert.deepEqual(await readFile(local), media.png());
    const result = await ctx.storeImageResult({ storageUrl: `${server.origin}/results/image.png`, format: 'png', width: 1, height: 1 });

    assert.deepEqual(await ctx.cleanup(), { tempFilesDeleted: 2 });
    assert.equal(await t.storage.exists(temp.storageKey), false);
    assert.equal(await t.storage.exists(mask.storageKey), false);
    assert.equal(await exists(local), false);
    assert.equal(await t.storage.exists(result.storageKey), true, 'results are permanent');
    assert.deepEqual(await ctx.cleanup(), { tempFilesDeleted: 0 }, 'safe to call twice');
    await assert.rejects(ctx.storeTempFile('late.bin', new Uint8Array(1)), (e: unknown) => e instanceof StorageError && /cleaned up/.test(e.message));
  });

  it('uses the context tempFileTtlMs for the expiry', async () => {
    const t = await testStorage();
    const ctx = createGenerationContext(t.storage, await options({ tempFileTtlMs: 3600_000 }));
    const temp = await ctx.storeTempFile('step1.json', '{"step":1}');
    assert.equal(temp.contentType, 'application/json');
    const expires = Date.parse((await t.storage.catalog.get(temp.storageKey))!.expiresAt!);
    assert.ok(Math.abs(expires - (Date.now() + 3600_000)) < 60_000);
    await ctx.cleanup();
  });

  it('withGenerationContext cleans up when the generator throws, and rethrows its error', async () => {
    const t = await testStorage();
    let localFile = '';
    let tempKey = '';
    const failure = new Error('the sampler exploded');
    await assert.rejects(withGenerationContext(t.storage, await options(), async (ctx) => {
      tempKey = (await ctx.storeTempFile('partial.png', media.png())).storageKey;
      localFile = await ctx.resolveArtifact(`${server.origin}/results/image.png`);
      throw failure;
    }), (e: unknown) => e === failure);
    assert.equal(await t.storage.exists(tempKey), false);
    assert.equal(await exists(localFile), false);
    assert.ok(await storedNothing(t, TENANT));
  });

  it('withGenerationContext returns the result and cleans up', async () => {
    const t = await testStorage();
    const artifact = await withGenerationContext(t.storage, await options(), async (ctx) => {
      await ctx.storeTempFile('scratch.txt', 'notes');
      return ctx.storeImageResult({ storageUrl: `${server.origin}/results/image.png`, format: 'png', width: 2, height: 2 });
    });
    assert.equal(artifact.width, 2);
    const left = await t.storage.listArtifacts({ tenantId: TENANT });
    assert.deepEqual(left.items.map((a) => a.storageKey), [artifact.storageKey]);
  });

  it('cleanup stops downloads still running, and they store nothing', async () => {
    const t = await testStorage();
    const ctx = createGenerationContext(t.storage, await options({ idleTimeoutMs: 5000, retries: 3 }));
    const running = ctx.storeImageResult({ storageUrl: `${server.origin}/drip`, format: 'png', width: 1, height: 1 });
    const outcome = running.then(() => undefined, (e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await ctx.cleanup();
    const error = await outcome;
    assert.ok(error instanceof StorageError && /cleaned up/.test(error.message), String(error));
    assert.ok(Date.now() - started < 1000);
    assert.ok(await storedNothing(t, TENANT));
  });
});
