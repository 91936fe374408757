import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { ProviderUnavailableError } from '../../src/errors.ts';
import type { ByteRange, OpenFile, StorageProvider } from '../../src/providers/provider.ts';
import { media } from '../fixtures/media.ts';
import { startTestServer } from './server-harness.ts';

/**
 * A download whose provider fails after some bytes must not look complete: the response has its
 * headers and Content-Length already, so the server cuts the connection short of it. The local
 * provider's file is read by the server itself (openFile); other providers' bytes stream.
 */
const server = await startTestServer({ server: { cache: { max_object_size: '1KB', max_total_size: '1MB' } } });
const alice = await server.as('alice');
const bytes = media.png(600_000);
const ref = await server.put('alice', bytes, 'image/png');

// The local provider as configured, but without openFile, and its download streams fail after their first 256 KiB.
const local = server.storage.provider('local');
const failingStream: StorageProvider = Object.assign(Object.create(local) as StorageProvider, {
  openFile: undefined,
  async openDownload(key: string, range?: { start?: number; end?: number }): Promise<Readable> {
    const source = await local.openDownload(key, range);
    let sent = 0;
    return Readable.from((async function* () {
      for await (const chunk of source) {
        for (let at = 0; at < (chunk as Buffer).length; at += 64 * 1024) {
          if (sent >= 256 * 1024) throw new ProviderUnavailableError('the backend went away mid-download');
          const piece = (chunk as Buffer).subarray(at, at + 64 * 1024);
          sent += piece.length;
          yield piece;
        }
      }
    })(), { objectMode: false });
  },
});

type Read = FileHandle['read'];

/** The local provider, its opened files watched: every read's bytes counted, `fail` consulted before each read. */
function watchedFiles(fail: (readSoFar: number) => boolean = () => false) {
  const opened: { handle: FileHandle; read: number; closed: Promise<unknown> }[] = [];
  const provider: StorageProvider = Object.assign(Object.create(local) as StorageProvider, {
    async openFile(key: string, range?: ByteRange): Promise<OpenFile> {
      const file = await local.openFile!(key, range);
      const close = file.handle.close.bind(file.handle);
      let closed!: () => void;
      const entry = { handle: file.handle, read: 0, closed: new Promise<void>((resolve) => { closed = resolve; }) };
      file.handle.close = async () => {
        await close();
        closed();
      };
      opened.push(entry);
      const read = file.handle.read.bind(file.handle) as (...args: unknown[]) => ReturnType<Read>;
      (file.handle as unknown as { read: unknown }).read = async (...args: unknown[]) => {
        if (fail(entry.read)) throw new ProviderUnavailableError('the disk went away mid-download');
        const result = await read(...args);
        entry.read += result.bytesRead;
        return result;
      };
      return file;
    },
  });
  return { provider, opened };
}

function download(path: string, headers: Record<string, string>): Promise<{ status: number; declared: number; received: number; complete: boolean }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, headers, agent: false }, (res) => {
      let received = 0;
      const done = (complete: boolean) => resolve({ status: res.statusCode ?? 0, declared: Number(res.headers['content-length']), received, complete });
      res.on('data', (c: Buffer) => { received += c.length; });
      res.on('end', () => done(true));
      res.on('aborted', () => done(false));
      res.on('error', () => done(false));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A 200 that declared the whole artifact but ended before it, as a failed download must. */
function assertCutShort(got: Awaited<ReturnType<typeof download>>, size: number): void {
  assert.equal(got.status, 200);
  assert.equal(got.declared, size);
  assert.equal(got.complete, false);
  assert.ok(got.received < size, `received ${got.received} of ${size}`);
}

const big = media.png(48 * 1024 * 1024);
const bigRef = await server.put('alice', big, 'image/png');

// First: the failure tests below register wrapped providers, and each registration adds layers (a metrics layer too).
describe('GET /v1/artifacts/{key} read from the local file', () => {
  const fileBytes = async () => (await server.storage.metrics()).providers.local!.operations.openFile?.bytes ?? 0;

  it('sends the whole file and a range exactly, and counts exactly the bytes sent', async () => {
    const before = await fileBytes();
    const whole = await fetch(`${server.url}/v1/artifacts/${bigRef.storageKey}`, { headers: alice });
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(big));
    const part = await fetch(`${server.url}/v1/artifacts/${bigRef.storageKey}`, { headers: { ...alice, range: 'bytes=1000-1999999' } });
    assert.equal(part.status, 206);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(big.subarray(1000, 2_000_000)));
    assert.equal(await fileBytes() - before, big.length + 1_999_000);
  });

});

describe('GET /v1/artifacts/{key} when the provider fails mid-stream', () => {
  it('cuts a streamed response short of its Content-Length instead of ending it as if complete', async () => {
    server.storage.registerProvider('local', failingStream);
    try {
      assertCutShort(await download(`/v1/artifacts/${ref.storageKey}`, alice), bytes.length);
    } finally {
      server.storage.registerProvider('local', local);
    }
    const whole = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: alice });
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(bytes), "the same download from the healthy provider is whole");
  });

  it('cuts a response read from the file short of its Content-Length when a read fails after the headers', async () => {
    // The 48 MiB artifact: the server reads 2 MiB at a time, so the small one would be read whole at once.
    const { provider, opened } = watchedFiles((read) => read >= 256 * 1024);
    server.storage.registerProvider('local', provider);
    try {
      assertCutShort(await download(`/v1/artifacts/${bigRef.storageKey}`, alice), big.length);
      await opened[0]!.closed;
    } finally {
      server.storage.registerProvider('local', local);
    }
  });

  it('answers with an error, not a cut-short 200, when the first read of the file fails', async () => {
    const { provider, opened } = watchedFiles(() => true);
    server.storage.registerProvider('local', provider);
    try {
      const res = await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: alice });
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'PROVIDER_UNAVAILABLE');
      await opened[0]!.closed;
    } finally {
      server.storage.registerProvider('local', local);
    }
  });
});

describe('GET /v1/artifacts/{key} read from the local file: stopping', () => {
  function get(path: string, headers: Record<string, string>): Promise<IncomingMessage> {
    const { hostname, port } = new URL(server.url);
    return new Promise((resolve, reject) => {
      const req = request({ host: hostname, port, path, headers, agent: false }, resolve);
      req.on('error', reject);
      req.end();
    });
  }

  it('stops reading and closes the file when the client goes away', async () => {
    const { provider, opened } = watchedFiles();
    server.storage.registerProvider('local', provider);
    try {
      const res = await get(`/v1/artifacts/${bigRef.storageKey}`, alice);
      await once(res, 'data');
      res.destroy();
      await opened[0]!.closed;
      assert.equal(opened[0]!.handle.fd, -1);
      assert.ok(opened[0]!.read < big.length / 2, `read ${opened[0]!.read} of ${big.length} bytes for a client that left after its first chunk`);
    } finally {
      server.storage.registerProvider('local', local);
    }
  });

  it('reads no further ahead than the client takes (backpressure), then completes', async () => {
    const { provider, opened } = watchedFiles();
    server.storage.registerProvider('local', provider);
    try {
      const res = await get(`/v1/artifacts/${bigRef.storageKey}`, alice);
      res.pause();
      // Let the socket buffers fill until the reads stop.
      let last = -1;
      while (opened[0]!.read !== last) {
        last = opened[0]!.read;
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      assert.ok(last < big.length / 2, `read ${last} of ${big.length} bytes for a client that took none`);
      let received = 0;
      res.on('data', (chunk: Buffer) => { received += chunk.length; });
      res.resume();
      await once(res, 'end');
      assert.equal(received, big.length);
      await opened[0]!.closed;
    } finally {
      server.storage.registerProvider('local', local);
    }
  });
});
