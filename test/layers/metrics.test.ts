import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { MetricsRecorder } from '../../src/layers/metrics.ts';
import { ProviderUnavailableError } from '../../src/errors.ts';
import type { StorageProvider } from '../../src/providers/provider.ts';

/** The metrics layer on its own, over a provider whose download stream the test controls. */
function measured(openDownload: () => Promise<Readable>) {
  const recorder = new MetricsRecorder();
  const provider = recorder.layer('p')({ openDownload } as unknown as StorageProvider);
  const bytes = () => recorder.snapshot().p!.operations.openDownload!.bytes;
  return { provider, bytes };
}

async function drain(stream: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}

describe('metrics layer: download bytes', () => {
  it('counts every byte exactly, those buffered before the hand-over included, on the provider\'s own stream', async () => {
    const source = new PassThrough();
    source.write(Buffer.alloc(1000, 1));
    source.write('héllo', 'utf8');
    const { provider, bytes } = measured(async () => source);
    const stream = await provider.openDownload('k');
    assert.equal(stream, source, 'no extra stream stage');
    setImmediate(() => {
      source.write(new Uint8Array(64 * 1024));
      source.end(Buffer.alloc(3));
    });
    assert.equal(await drain(stream), 1000 + 6 + 64 * 1024 + 3);
    assert.equal(bytes(), 1000 + 6 + 64 * 1024 + 3);
  });

  it('adds up several downloads, ranges and empty ones', async () => {
    let next = [Buffer.alloc(10), Buffer.alloc(20)];
    const { provider, bytes } = measured(async () => Readable.from(next, { objectMode: false }));
    await drain(await provider.openDownload('k'));
    next = [];
    await drain(await provider.openDownload('k'));
    next = [Buffer.alloc(5)];
    await drain(await provider.openDownload('k'));
    assert.equal(bytes(), 35);
  });

  it('passes a failure in the middle of the stream to the reader, after the bytes that came first', async () => {
    const failure = new ProviderUnavailableError('backend went away');
    const source = new Readable({ read() {} });
    const { provider, bytes } = measured(async () => source);
    const stream = await provider.openDownload('k');
    source.push(Buffer.alloc(100));
    setImmediate(() => source.destroy(failure));
    let seen = 0;
    await assert.rejects(async () => { for await (const chunk of stream) seen += (chunk as Buffer).length; }, (error) => error === failure);
    assert.equal(seen, 100);
    assert.equal(bytes(), 100);
  });

  it('keeps the provider\'s backpressure: a reader that stops leaves the source paused at its high-water mark', async () => {
    let produced = 0;
    const source = new Readable({ highWaterMark: 4096, read() { produced += 1024; this.push(Buffer.alloc(1024)); } });
    const { provider, bytes } = measured(async () => source);
    const stream = await provider.openDownload('k');
    stream.read(0);
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(produced <= 4096 + 1024, `produced ${produced} bytes with nobody reading`);
    assert.equal(bytes(), produced);
    stream.destroy();
  });
});
