import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, jsonHeaders } from './server-harness.ts';
import { animatedImage, decompressionBomb, pngImage, NO_MEDIA_LIBRARIES, sharp } from '../media/media-files.ts';

const PRESETS = { image: [{ name: 'thumb_256', width: 256, format: 'webp' }] };

async function imageOf(res: Response): Promise<{ format?: string; width?: number; height?: number; bytes: Buffer }> {
  const bytes = Buffer.from(await res.arrayBuffer());
  const meta = await sharp(bytes).metadata();
  return { format: meta.format, width: meta.width, height: meta.height, bytes };
}

/** A noisy PNG: large when encoded, slow enough to decode that transforms overlap. */
async function noisyPng(size: number): Promise<Buffer> {
  return sharp({ create: { width: size, height: size, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 50 } } }).png({ compressionLevel: 1 }).toBuffer();
}

describe('variants and transforms over HTTP', { skip: NO_MEDIA_LIBRARIES }, () => {
  it('?variant= serves a preset, made on demand the first time, then read like any artifact', async () => {
    const server = await startTestServer({ storage: { variants: PRESETS, media: { background_variants: false } } });
    const alice = await server.as('alice');
    const ref = await server.put('alice', await pngImage(1024, 512), 'image/png');
    const first = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?variant=thumb_256`, { headers: alice });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('content-type'), 'image/webp');
    const image = await imageOf(first);
    assert.deepEqual([image.format, image.width, image.height], ['webp', 256, 128]);
    const again = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?variant=thumb_256`, { headers: { ...alice, 'if-none-match': first.headers.get('etag')! } });
    assert.equal(again.status, 304);
    const info = await (await fetch(`${server.url}/v1/info/${ref.storageKey}`, { headers: alice })).json() as { variants: { name: string; width: number }[]; media: { width: number } };
    assert.deepEqual(info.variants.map((v) => [v.name, v.width]), [['thumb_256', 256]]);
    assert.equal(info.media.width, 1024);
    // The listing shows the original alone, with its variant.
    const list = await (await fetch(`${server.url}/v1/artifacts`, { headers: alice })).json() as { items: { storageKey: string; variants?: unknown[]; placeholder?: string }[] };
    assert.deepEqual(list.items.map((i) => [i.storageKey, i.variants?.length]), [[ref.storageKey, 1]]);
    assert.ok(list.items[0]!.placeholder);
    // Another tenant learns nothing, variant or not.
    const bob = await server.as('bob');
    assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?variant=thumb_256`, { headers: bob })).status, 404);
    assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?variant=nope`, { headers: alice })).status, 404);
    // Deleting the original over HTTP takes the variant along.
    assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { method: 'DELETE', headers: alice })).status, 204);
    assert.equal(await server.storage.exists(ref.storageKey.replace(/original\.png$/, 'thumb_256.webp')), false);
    // Served from the variant's key remembered by the requests above: checked against the catalog, so gone at once.
    assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?variant=thumb_256`, { headers: alice })).status, 404);
  });

  it('free-form transforms are bucketed to a few sizes and cached as variants', async () => {
    const server = await startTestServer();
    const alice = await server.as('alice');
    const ref = await server.put('alice', await pngImage(800, 800), 'image/png');
    const sizes: number[] = [];
    for (const width of [200, 250, 256, 129]) {
      const res = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?width=${width}&quality=77`, { headers: alice });
      assert.equal(res.status, 200);
      sizes.push((await imageOf(res)).width!);
    }
    assert.deepEqual(sizes, [256, 256, 256, 256]);
    const variants = (await server.storage.getArtifact(ref.storageKey)).variants ?? [];
    assert.deepEqual(variants.map((v) => v.name), ['t_w256_h0_inside_q75']);
    const cover = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?width=100&height=60&fit=cover&format=jpeg`, { headers: alice });
    assert.equal(cover.headers.get('content-type'), 'image/jpeg');
    assert.deepEqual((({ width, height }) => [width, height])(await imageOf(cover)), [128, 64]);
    // Past the largest allowed size: capped, never enlarged past the original either.
    const huge = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?width=99999`, { headers: alice });
    assert.equal((await imageOf(huge)).width, 800);
    const bad = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?width=abc`, { headers: alice });
    assert.equal(bad.status, 400);
    const both = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?width=100&variant=x`, { headers: alice });
    assert.equal(both.status, 400);
    const text = await server.put('alice', Buffer.from('hello'), 'text/plain', { artifactType: 'text' });
    const notImage = await fetch(`${server.url}/v1/artifacts/${text.storageKey}?width=100`, { headers: alice });
    assert.equal(notImage.status, 400);
  });

  it('a transform needs a token or a signed URL that names it', async () => {
    const server = await startTestServer();
    const alice = await server.as('alice');
    const png = await pngImage(600, 600);
    const ref = await server.put('alice', png, 'image/png');
    assert.equal((await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?width=64`)).status, 401);
    const signed = await fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(alice), body: JSON.stringify({ keys: [ref.storageKey], transform: { width: 100, format: 'png' } }) });
    assert.equal(signed.status, 200);
    const { urls } = await signed.json() as { urls: { url: string }[] };
    const url = urls[0]!.url;
    assert.match(url, /tf=w128\.h0\.inside\.png\.q75/);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.deepEqual((({ format, width }) => [format, width])(await imageOf(res)), ['png', 128]);
    // Changing the signed transform breaks the signature.
    assert.equal((await fetch(url.replace('w128', 'w2048'))).status, 403);
    // Adding transform parameters to a plain signed URL does nothing: they are not signed.
    const plain = await fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(alice), body: JSON.stringify({ keys: [ref.storageKey] }) });
    const plainUrl = ((await plain.json()) as { urls: { url: string }[] }).urls[0]!.url;
    const ignored = await fetch(`${plainUrl}&width=64&tf=w64.h0.inside.webp.q75`);
    assert.equal(ignored.status, 403);
    const original = await fetch(`${plainUrl}&width=64`);
    assert.deepEqual(Buffer.from(await original.arrayBuffer()), png);
  });

  it('transforms.enabled: false turns free-form transforms off; presets are still served', async () => {
    const server = await startTestServer({ storage: { variants: PRESETS, transforms: { enabled: false } } });
    const alice = await server.as('alice');
    const ref = await server.put('alice', await pngImage(600, 300), 'image/png');
    const off = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?width=64`, { headers: alice });
    assert.equal(off.status, 403);
    assert.equal(((await off.json()) as { error: { code: string } }).error.code, 'TRANSFORMS_DISABLED');
    const signing = await fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(alice), body: JSON.stringify({ keys: [ref.storageKey], transform: { width: 64 } }) });
    assert.equal(signing.status, 403);
    const preset = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?variant=thumb_256`, { headers: alice });
    assert.equal(preset.status, 200);
    assert.equal((await imageOf(preset)).width, 256);
  });

  it('hostile images are refused with a 422 that says why', async () => {
    const server = await startTestServer();
    const alice = await server.as('alice');
    const check = async (bytes: Buffer, contentType: string, code: string, message: RegExp) => {
      const ref = await server.put('alice', bytes, contentType);
      const res = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}?width=64`, { headers: alice });
      const body = await res.json() as { error: { code: string; message: string } };
      assert.equal(res.status, 422, body.error.message);
      assert.equal(body.error.code, code);
      assert.match(body.error.message, message);
    };
    const rssBefore = process.memoryUsage().rss;
    // 200000 x 200000 declared in a few hundred bytes: 160 GB decoded.
    await check(await decompressionBomb(200_000, 200_000), 'image/png', 'MEDIA_TOO_LARGE', /200000x200000 pixels.*not decoded/);
    assert.ok(process.memoryUsage().rss - rssBefore < 200 * 1024 * 1024, 'the bomb cost no memory');
    const whole = await noisyPng(400);
    await check(whole.subarray(0, Math.floor(whole.length / 2)), 'image/png', 'MEDIA_UNREADABLE', /cannot be decoded/);
    await check(await animatedImage('gif', 2000, 4), 'image/gif', 'MEDIA_TOO_LARGE', /2000 frames, more than the 500 allowed/);
  });

  it('transforms run at bounded concurrency: the line is bounded (503 + Retry-After) and the service stays responsive', async () => {
    const server = await startTestServer({ storage: { transforms: { max_concurrent: 1, max_queue: 1 } } });
    const alice = await server.as('alice');
    const ref = await server.put('alice', await noisyPng(1200), 'image/png');
    let healthMs = 0;
    const transforms = [64, 128, 256, 512, 1024, 2048].map((w) => fetch(`${server.url}/v1/artifacts/${ref.storageKey}?width=${w}&format=png`, { headers: alice }));
    const started = performance.now();
    const health = await fetch(`${server.url}/healthz`);
    healthMs = performance.now() - started;
    assert.equal(health.status, 200);
    const results = await Promise.all(transforms);
    const statuses = results.map((r) => r.status).sort();
    // One runs, one waits, the rest are told to come back.
    assert.ok(statuses.filter((s) => s === 200).length >= 2, `statuses ${statuses}`);
    const busy = results.filter((r) => r.status === 503);
    assert.ok(busy.length >= 1, `statuses ${statuses}`);
    assert.equal(busy[0]!.headers.get('retry-after'), '1');
    assert.equal(((await busy[0]!.json()) as { error: { code: string } }).error.code, 'SERVER_BUSY');
    assert.ok(healthMs < 1000, `healthz took ${healthMs} ms while transforms ran`);
    assert.equal(server.storage.transformSlots.active, 0);
  });
});
