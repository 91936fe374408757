import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createGenerationContext, NotFoundError, ProviderUnavailableError, SecurityError, ValidationError,
} from '../../src/index.ts';
import type { GenerationContextOptions, StorageError, StorageManager } from '../../src/index.ts';
import { LARGE_BODY, RESULTS, safetensors, startProviderServer, storedNothing, testStorage } from './provider-server.ts';
import type { ProviderServer, TestStorage } from './provider-server.ts';

let server: ProviderServer;
before(async () => { server = await startProviderServer(); });
after(() => server.close());

const TENANT = 'tenant1';

/** Short timeouts and quick retries: the whole file stays within seconds. */
function options(extra: Partial<GenerationContextOptions> = {}): GenerationContextOptions {
  return {
    generationId: 'gen-1', jobId: 'job-1', tenantId: TENANT, boardId: 'board-1',
    allowHosts: [server.host],
    connectTimeoutMs: 1000, idleTimeoutMs: 300, totalTimeoutMs: 5000, retries: 2, retryBaseDelayMs: 10, retryMaxDelayMs: 50,
    ...extra,
  };
}

function context(storage: StorageManager, extra: Partial<GenerationContextOptions> = {}) {
  return createGenerationContext(storage, options(extra));
}

const url = (path: string) => `${server.origin}${path}`;

/** The error is of `type`, with `code`, and nothing at all was stored. */
async function refusedAndNothingStored(t: TestStorage, attempt: Promise<unknown>, type: new (...args: never[]) => StorageError, code: string, message?: RegExp): Promise<StorageError> {
  const error = await attempt.then(() => assert.fail('expected a failure'), (e: unknown) => e);
  assert.ok(error instanceof type, `expected ${type.name}, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`);
  assert.equal(error.code, code);
  if (message) assert.match(error.message, message);
  assert.ok(await storedNothing(t, TENANT), 'nothing may be stored');
  return error;
}

describe('storing generation results from provider URLs', () => {
  it('stores an image of each format with its dimensions, under the generation id, board and tenant', async () => {
    const t = await testStorage();
    const ctx = context(t.storage);
    for (const [file, format] of [['image.png', 'png'], ['image.jpg', 'jpeg'], ['image.webp', 'webp'], ['image.gif', 'gif']] as const) {
      const artifact = await ctx.storeImageResult({ storageUrl: url(`/results/${file}`), format, width: 1024, height: 768 });
      assert.equal(artifact.artifactType, 'image');
      assert.equal(artifact.format, format);
      assert.equal(artifact.width, 1024);
      assert.equal(artifact.height, 768);
      assert.equal(artifact.artifactId, 'gen-1');
      assert.equal(artifact.generationId, 'gen-1');
      assert.equal(artifact.jobId, 'job-1');
      assert.equal(artifact.tenantId, TENANT);
      assert.equal(artifact.boardId, 'board-1');
      assert.equal(artifact.contentType, RESULTS[file]!.type);
      assert.match(artifact.storageKey, new RegExp(`^${TENANT}/image/board-1/gen-1_\\d{14}_[0-9a-f]{8}/original\\.(png|jpg|webp|gif)$`));
      assert.equal(artifact.storageUrl, `local://${artifact.storageKey}`);
      assert.deepEqual(Buffer.from(await t.storage.download(artifact.storageKey)), RESULTS[file]!.body);
      // The fixtures are tiny images: where their bytes give dimensions, those replace the caller's (media.caller_facts: correct).
      const facts = (await t.storage.getArtifact(artifact.storageKey)).media;
      if (format === 'png' || format === 'gif') assert.deepEqual([facts?.width, facts?.height], [1, 1]);
      assert.deepEqual(artifact.metadata, { format, width: facts?.width ?? 1024, height: facts?.height ?? 768 });
      const recorded = await t.storage.catalog.get(artifact.storageKey);
      assert.equal(recorded?.generationId, 'gen-1');
      assert.equal(recorded?.jobId, 'job-1');
    }
    assert.equal((await t.storage.listArtifacts({ tenantId: TENANT })).items.length, 4);
    await ctx.cleanup();
  });

  it('stores video, audio and model results with their media fields', async () => {
    const t = await testStorage();
    const ctx = context(t.storage, { metadata: { model: 'flux' } });
    for (const [file, format] of [['video.mp4', 'mp4'], ['video.webm', 'webm'], ['video.mov', 'mov']] as const) {
      const video = await ctx.storeVideoResult({ storageUrl: url(`/results/${file}`), format, width: 1280, height: 720, duration: 4.5, fps: 24 });
      assert.deepEqual([video.artifactType, video.format, video.width, video.height, video.duration, video.fps], ['video', format, 1280, 720, 4.5, 24]);
      assert.deepEqual(video.metadata, { model: 'flux', format, width: 1280, height: 720, duration: 4.5, fps: 24 });
    }
    for (const [file, format] of [['audio.mp3', 'mp3'], ['audio.wav', 'wav'], ['audio.ogg', 'ogg']] as const) {
      const audio = await ctx.storeAudioResult({ storageUrl: url(`/results/${file}`), format, duration: 12.5, sampleRate: 44100, channels: 2 });
      assert.deepEqual([audio.artifactType, audio.format, audio.duration, audio.sampleRate, audio.channels], ['audio', format, 12.5, 44100, 2]);
      assert.equal(audio.contentType, RESULTS[file]!.type);
    }
    const lora = await ctx.storeModelResult({ storageUrl: url('/results/lora.safetensors'), format: 'safetensors' });
    assert.equal(lora.artifactType, 'model');
    assert.match(lora.storageKey, /\/original\.safetensors$/);
    assert.deepEqual(Buffer.from(await t.storage.download(lora.storageKey)), safetensors());
    const inHand = await ctx.storeModelResult({ content: safetensors(), format: 'safetensors', variant: 'weights.safetensors' });
    assert.match(inHand.storageKey, /\/weights\.safetensors$/);
    await ctx.cleanup();
  });

  it('stores text, Markdown and JSON, and refuses JSON that does not parse', async () => {
    const t = await testStorage();
    const ctx = context(t.storage);
    const text = await ctx.storeTextResult({ content: 'a cat on a mat', format: 'text' });
    assert.equal(text.contentType, 'text/plain');
    assert.match(text.storageKey, /^tenant1\/text\/board-1\/gen-1_.*\/original\.txt$/);
    const markdown = await ctx.storeTextResult({ content: '# Caption\n', format: 'markdown' });
    assert.equal(markdown.contentType, 'text/markdown');
    const json = await ctx.storeTextResult({ content: '{"tags":["cat"]}', format: 'json' });
    assert.equal(Buffer.from(await t.storage.download(json.storageKey)).toString(), '{"tags":["cat"]}');
    await assert.rejects(ctx.storeTextResult({ content: '{"tags":', format: 'json' }), (e: unknown) => e instanceof ValidationError && e.code === 'CONTENT_MISMATCH');
    assert.equal((await t.storage.listArtifacts({ tenantId: TENANT })).items.length, 3);
  });

  it('refuses bad media fields and formats before downloading anything', async () => {
    const t = await testStorage();
    const ctx = context(t.storage);
    const before = server.hits.get('/results/image.png') ?? 0;
    await refusedAndNothingStored(t, ctx.storeImageResult({ storageUrl: url('/results/image.png'), format: 'png', width: 0, height: 10 }), ValidationError, 'VALIDATION_FAILED', /width/);
    await refusedAndNothingStored(t, ctx.storeImageResult({ storageUrl: url('/results/image.png'), format: 'bmp' as never, width: 1, height: 1 }), ValidationError, 'VALIDATION_FAILED', /format/);
    await refusedAndNothingStored(t, ctx.storeModelResult({ format: 'safetensors' } as never), ValidationError, 'VALIDATION_FAILED', /storageUrl or content/);
    assert.equal(server.hits.get('/results/image.png') ?? 0, before);
    assert.throws(() => createGenerationContext(t.storage, { ...options(), jobId: '../etc' }), (e: unknown) => e instanceof SecurityError && e.details.field === 'jobId');
  });
});

describe('bounded downloads', () => {
  it('stops a provider that drips bytes at the idle timeout', async () => {
    const t = await testStorage();
    const started = Date.now();
    const error = await refusedAndNothingStored(t, context(t.storage, { retries: 0 }).storeImageResult({ storageUrl: url('/drip'), format: 'png', width: 1, height: 1 }), ProviderUnavailableError, 'PROVIDER_UNAVAILABLE', /sent nothing for 300 ms/);
    assert.equal(error.details.timeout, 'idle');
    assert.ok(Date.now() - started < 2000);
  });

  it('stops a provider that never answers at the idle timeout, and retries it', async () => {
    const t = await testStorage();
    const hits = server.hits.get('/silent') ?? 0;
    const error = await refusedAndNothingStored(t, context(t.storage, { retries: 1, idleTimeoutMs: 150 }).storeImageResult({ storageUrl: url('/silent'), format: 'png', width: 1, height: 1 }), ProviderUnavailableError, 'PROVIDER_UNAVAILABLE');
    assert.equal(error.details.timeout, 'idle');
    assert.equal(server.hits.get('/silent'), hits + 2);
  });

  it('gives up at the total timeout, however alive the provider looks', async () => {
    const t = await testStorage();
    const error = await refusedAndNothingStored(t, context(t.storage, { idleTimeoutMs: 5000, totalTimeoutMs: 400 }).storeImageResult({ storageUrl: url('/drip'), format: 'png', width: 1, height: 1 }), ProviderUnavailableError, 'PROVIDER_UNAVAILABLE', /longer than 400 ms/);
    assert.equal(error.details.timeout, 'total');
  });

  it('gives up at the connect timeout (a resolver that never answers)', async () => {
    const t = await testStorage();
    const error = await refusedAndNothingStored(t, context(t.storage, { retries: 0, connectTimeoutMs: 150, allowHosts: ['stuck.example'], resolveHost: () => new Promise(() => {}) })
      .storeImageResult({ storageUrl: 'http://stuck.example/image.png', format: 'png', width: 1, height: 1 }), ProviderUnavailableError, 'PROVIDER_UNAVAILABLE', /within 150 ms/);
    assert.equal(error.details.timeout, 'connect');
  });

  it('stops a body larger than max_file_size early, without reading it all', async () => {
    const t = await testStorage();
    const closed = server.closedBy('/large');
    await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: url('/large'), format: 'png', width: 1, height: 1 }), ValidationError, 'CONTENT_TOO_LARGE');
    await closed;
    assert.ok((server.sent.get('/large') ?? 0) < LARGE_BODY, `the server wrote all ${server.sent.get('/large')} bytes: the client read past the limit`);
    assert.equal(server.hits.get('/large'), 1, 'a body over the limit is not retried');
  });

  it('refuses a Content-Length over the limit before reading the body', async () => {
    const t = await testStorage();
    await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: url('/large-declared'), format: 'png', width: 1, height: 1 }), ValidationError, 'CONTENT_TOO_LARGE', /announces/);
    await refusedAndNothingStored(t, context(t.storage, { maxBytes: 10 }).storeImageResult({ storageUrl: url('/results/image.png'), format: 'png', width: 1, height: 1 }), ValidationError, 'CONTENT_TOO_LARGE');
  });

  it('refuses bytes that are not the declared format (sniffed)', async () => {
    const t = await testStorage();
    await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: url('/not-png'), format: 'png', width: 1, height: 1 }), ValidationError, 'CONTENT_MISMATCH');
    await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: url('/results/image.jpg?type=none'), format: 'png', width: 1, height: 1 }), ValidationError, 'CONTENT_MISMATCH');
  });

  it('refuses a Content-Type that contradicts the declared format, and accepts generic binary ones', async () => {
    const t = await testStorage();
    await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: url('/html-as-png'), format: 'png', width: 1, height: 1 }), ValidationError, 'CONTENT_MISMATCH', /sent text\/html/);
    await refusedAndNothingStored(t, context(t.storage).storeAudioResult({ storageUrl: url('/results/video.mp4'), format: 'wav', duration: 1 }), ValidationError, 'CONTENT_MISMATCH', /video\/mp4/);
    await refusedAndNothingStored(t, context(t.storage).storeModelResult({ storageUrl: url('/results/lora.safetensors?type=text/html'), format: 'safetensors' }), ValidationError, 'CONTENT_MISMATCH');
    const ctx = context(t.storage);
    await ctx.storeImageResult({ storageUrl: url('/results/image.png?type=application/octet-stream'), format: 'png', width: 1, height: 1 });
    await ctx.storeImageResult({ storageUrl: url('/results/image.png?type=binary/octet-stream'), format: 'png', width: 1, height: 1 });
    await ctx.storeImageResult({ storageUrl: url('/results/image.jpg?type=image/jpg'), format: 'jpeg', width: 1, height: 1 });
  });

  it('refuses a compressed body, which would not be the declared bytes', async () => {
    const t = await testStorage();
    await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: url('/gzip'), format: 'png', width: 1, height: 1 }), ValidationError, 'CONTENT_MISMATCH', /gzip/);
  });
});

describe('retries', () => {
  it('retries a 500 and stores the 200 that follows', async () => {
    const t = await testStorage();
    const artifact = await context(t.storage).storeImageResult({ storageUrl: url('/flaky'), format: 'png', width: 1, height: 1 });
    assert.equal(server.hits.get('/flaky'), 2);
    assert.equal((await t.storage.listArtifacts({ tenantId: TENANT })).items.length, 1);
    assert.equal(artifact.size, RESULTS['image.png']!.body.length);
  });

  it('waits as long as a 429 Retry-After says, then stores', async () => {
    const t = await testStorage();
    const started = Date.now();
    await context(t.storage).storeImageResult({ storageUrl: url('/throttled'), format: 'png', width: 1, height: 1 });
    assert.ok(Date.now() - started >= 950, `waited only ${Date.now() - started} ms`);
    assert.equal(server.hits.get('/throttled'), 2);
  });

  it('fails at once when Retry-After is longer than allowed', async () => {
    const t = await testStorage();
    const started = Date.now();
    await refusedAndNothingStored(t, context(t.storage, { maxRetryAfterMs: 1000 }).storeImageResult({ storageUrl: url('/throttled-long'), format: 'png', width: 1, height: 1 }), ProviderUnavailableError, 'PROVIDER_UNAVAILABLE', /retry after 3600 s/);
    assert.ok(Date.now() - started < 1000);
  });

  it('gives up after the configured retries on a provider that stays down', async () => {
    const t = await testStorage();
    const hits = server.hits.get('/down') ?? 0;
    const error = await refusedAndNothingStored(t, context(t.storage, { retries: 2 }).storeImageResult({ storageUrl: url('/down'), format: 'png', width: 1, height: 1 }), ProviderUnavailableError, 'PROVIDER_UNAVAILABLE', /answered 503/);
    assert.equal(error.details.status, 503);
    assert.equal(server.hits.get('/down'), hits + 3);
  });

  it('retries a body cut short of its Content-Length; the partial bytes are never stored', async () => {
    const t = await testStorage();
    const hits = server.hits.get('/truncated') ?? 0;
    await refusedAndNothingStored(t, context(t.storage, { retries: 1 }).storeImageResult({ storageUrl: url('/truncated'), format: 'png', width: 1, height: 1 }), ProviderUnavailableError, 'PROVIDER_UNAVAILABLE');
    assert.equal(server.hits.get('/truncated'), hits + 2);
  });

  it('does not retry an expired URL (404) and says so', async () => {
    const t = await testStorage();
    const hits = server.hits.get('/gone') ?? 0;
    await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: url('/gone'), format: 'png', width: 1, height: 1 }), NotFoundError, 'NOT_FOUND', /expired/);
    assert.equal(server.hits.get('/gone'), hits + 1);
  });
});

describe('SSRF guards', () => {
  it('refuses a loopback URL without an allow option, before connecting', async () => {
    const t = await testStorage();
    const hits = server.hits.get('/results/image.png') ?? 0;
    for (const target of [url('/results/image.png'), `http://localhost:${server.port}/results/image.png`, `http://2130706433:${server.port}/results/image.png`, `http://0x7f.1:${server.port}/results/image.png`, `http://[::ffff:7f00:1]:${server.port}/results/image.png`]) {
      await refusedAndNothingStored(t, context(t.storage, { allowHosts: [] }).storeImageResult({ storageUrl: target, format: 'png', width: 1, height: 1 }), SecurityError, 'SECURITY_VIOLATION', /loopback/);
    }
    assert.equal(server.hits.get('/results/image.png') ?? 0, hits, 'the server never saw a request');
  });

  it('refuses a name that resolves to a private address, checking every address it has', async () => {
    const t = await testStorage();
    const resolveHost = async (hostname: string) => hostname === 'mixed.example'
      ? [{ address: '93.184.216.34', family: 4 }, { address: '10.1.2.3', family: 4 }]
      : [{ address: '127.0.0.1', family: 4 }];
    await refusedAndNothingStored(t, context(t.storage, { allowHosts: [], resolveHost }).storeImageResult({ storageUrl: `http://provider.example:${server.port}/results/image.png`, format: 'png', width: 1, height: 1 }), SecurityError, 'SECURITY_VIOLATION', /provider\.example: 127\.0\.0\.1 is a loopback address/);
    await refusedAndNothingStored(t, context(t.storage, { allowHosts: [], resolveHost }).storeImageResult({ storageUrl: `http://mixed.example:${server.port}/results/image.png`, format: 'png', width: 1, height: 1 }), SecurityError, 'SECURITY_VIOLATION', /10\.1\.2\.3 is a private address/);
  });

  it('accepts loopback with allowPrivateNetworks, but never cloud metadata', async () => {
    const t = await testStorage();
    await context(t.storage, { allowHosts: [], allowPrivateNetworks: true }).storeImageResult({ storageUrl: `http://localhost:${server.port}/results/image.png`, format: 'png', width: 1, height: 1 });
    await assert.rejects(context(t.storage, { allowHosts: [], allowPrivateNetworks: true }).storeImageResult({ storageUrl: url('/to-metadata'), format: 'png', width: 1, height: 1 }), (e: unknown) => e instanceof SecurityError && e.details.kind === 'metadata');
    assert.equal((await t.storage.listArtifacts({ tenantId: TENANT })).items.length, 1);
  });

  it('refuses a redirect to 169.254.169.254 and to the IPv6 metadata address', async () => {
    const t = await testStorage();
    const error = await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: url('/to-metadata'), format: 'png', width: 1, height: 1 }), SecurityError, 'SECURITY_VIOLATION', /169\.254\.169\.254 is a metadata address/);
    assert.equal(error.details.kind, 'metadata');
    await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: url('/to-metadata-v6'), format: 'png', width: 1, height: 1 }), SecurityError, 'SECURITY_VIOLATION', /metadata/);
  });

  it('does not extend an allowed host to where it redirects', async () => {
    const t = await testStorage();
    const hits = server.hits.get('/results/image.png') ?? 0;
    const resolveHost = async () => [{ address: '127.0.0.1', family: 4 }];
    for (const path of ['/to-localhost', '/to-mapped-loopback', '/to-rebind']) {
      await refusedAndNothingStored(t, context(t.storage, { resolveHost }).storeImageResult({ storageUrl: url(path), format: 'png', width: 1, height: 1 }), SecurityError, 'SECURITY_VIOLATION', /loopback/);
    }
    assert.equal(server.hits.get('/results/image.png') ?? 0, hits, 'no redirect target was requested');
    // A redirect to the allowed host itself is fine.
    await context(t.storage).storeImageResult({ storageUrl: url('/to-self'), format: 'png', width: 1, height: 1 });
  });

  it('allows a host only on the port it names', async () => {
    const t = await testStorage();
    await refusedAndNothingStored(t, context(t.storage, { allowHosts: [`127.0.0.1:${server.port + 1 === 65536 ? 1 : server.port + 1}`] }).storeImageResult({ storageUrl: url('/results/image.png'), format: 'png', width: 1, height: 1 }), SecurityError, 'SECURITY_VIOLATION');
    await context(t.storage, { allowHosts: ['127.0.0.1'] }).storeImageResult({ storageUrl: url('/results/image.png'), format: 'png', width: 1, height: 1 });
  });

  it('takes allow_hosts and allow_private_networks from the configuration', async () => {
    const configured = await testStorage({ allow_hosts: [server.host] });
    await createGenerationContext(configured.storage, { generationId: 'g', jobId: 'j', tenantId: TENANT }).storeImageResult({ storageUrl: url('/results/image.png'), format: 'png', width: 1, height: 1 });
    const privateOk = await testStorage({ allow_private_networks: true, idle_timeout: '2s' });
    await createGenerationContext(privateOk.storage, { generationId: 'g', jobId: 'j', tenantId: TENANT }).storeImageResult({ storageUrl: url('/results/image.png'), format: 'png', width: 1, height: 1 });
    // A bad generation section fails when the manager is created, not at the first download.
    await assert.rejects(testStorage({ allow_hosts: ['http://example.com/'] }), (e: unknown) => e instanceof ValidationError && e.code === 'CONFIG_INVALID' && e.message.includes('storage.generation.allow_hosts[0]'));
    await assert.rejects(testStorage({ allow_host: ['x'] }), (e: unknown) => e instanceof ValidationError && e.code === 'CONFIG_INVALID' && e.message.includes('storage.generation'));
  });

  it('refuses schemes other than http and https, first and after a redirect', async () => {
    const t = await testStorage();
    for (const target of ['file:///etc/passwd', 'ftp://example.com/x.png', 'gopher://127.0.0.1:6379/_INFO', 'data:image/png;base64,AAAA']) {
      await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: target, format: 'png', width: 1, height: 1 }), SecurityError, 'SECURITY_VIOLATION', /only http and https/);
    }
    await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: url('/to-file'), format: 'png', width: 1, height: 1 }), SecurityError, 'SECURITY_VIOLATION', /file:/);
  });

  it('detects a redirect loop and limits redirects', async () => {
    const t = await testStorage();
    const hits = server.hits.get('/loop-a') ?? 0;
    const loop = await refusedAndNothingStored(t, context(t.storage).storeImageResult({ storageUrl: url('/loop-a'), format: 'png', width: 1, height: 1 }), ProviderUnavailableError, 'PROVIDER_UNAVAILABLE', /redirect loop/);
    assert.equal(loop.details.reason, 'redirect_loop');
    assert.equal(server.hits.get('/loop-a'), hits + 1, 'a loop is not retried');
    const many = await refusedAndNothingStored(t, context(t.storage, { maxRedirects: 5 }).storeImageResult({ storageUrl: url('/hops/6'), format: 'png', width: 1, height: 1 }), ProviderUnavailableError, 'PROVIDER_UNAVAILABLE', /more than 5 redirects/);
    assert.equal(many.details.reason, 'too_many_redirects');
    await context(t.storage, { maxRedirects: 5 }).storeImageResult({ storageUrl: url('/hops/5'), format: 'png', width: 1, height: 1 });
  });

  it('reports a host that does not resolve as unavailable, and does not retry it', async () => {
    const t = await testStorage();
    let lookups = 0;
    const resolveHost = async () => {
      lookups++;
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    await refusedAndNothingStored(t, context(t.storage, { resolveHost }).storeImageResult({ storageUrl: 'http://nowhere.example/x.png', format: 'png', width: 1, height: 1 }), ProviderUnavailableError, 'PROVIDER_UNAVAILABLE', /ENOTFOUND/);
    assert.equal(lookups, 1);
  });
});
