/**
 * A loopback HTTP server that plays an external generation provider: result URLs for each media
 * type, and every way such a URL can misbehave (stalls, floods, lies about its type, fails,
 * throttles, redirects somewhere it should not).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { createStorageManager } from '../../src/index.ts';
import type { StorageManager } from '../../src/index.ts';
import { media } from '../fixtures/media.ts';
import { storedFiles, tempDir } from '../helpers.ts';
import { join } from 'node:path';

export interface ProviderServer {
  /** `127.0.0.1:{port}`, for allowHosts. */
  host: string;
  port: number;
  origin: string;
  /** Requests seen, by path. */
  hits: Map<string, number>;
  /** Body bytes written, by path. */
  sent: Map<string, number>;
  /** Resolves once the server has seen the client go away from `path`. */
  closedBy(path: string): Promise<void>;
  close(): Promise<void>;
}

/** A fake safetensors file: little-endian header length, JSON header, tensor bytes. */
export function safetensors(): Buffer {
  const header = Buffer.from(JSON.stringify({ 'lora.weight': { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([length, header, Buffer.alloc(16, 1)]);
}

export const RESULTS: Record<string, { body: Buffer; type: string }> = {
  'image.png': { body: media.png(), type: 'image/png' },
  'image.jpg': { body: media.jpeg(), type: 'image/jpeg' },
  'image.webp': { body: media.webp(), type: 'image/webp' },
  'image.gif': { body: media.gif(), type: 'image/gif' },
  'video.mp4': { body: media.mp4(), type: 'video/mp4' },
  'video.webm': { body: media.webm(), type: 'video/webm' },
  'video.mov': { body: media.mov(), type: 'video/quicktime' },
  'audio.mp3': { body: media.mp3(), type: 'audio/mpeg' },
  'audio.wav': { body: media.wav(), type: 'audio/wav' },
  'audio.ogg': { body: media.ogg(), type: 'audio/ogg' },
  'lora.safetensors': { body: safetensors(), type: 'application/octet-stream' },
};

export async function startProviderServer(): Promise<ProviderServer> {
  const hits = new Map<string, number>();
  const sent = new Map<string, number>();
  const closeWaiters = new Map<string, () => void>();
  const closed = new Map<string, Promise<void>>();
  const closedBy = (path: string) => {
    let waiting = closed.get(path);
    if (!waiting) {
      waiting = new Promise((resolve) => closeWaiters.set(path, resolve));
      closed.set(path, waiting);
    }
    return waiting;
  };
  let origin = '';

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', origin);
    const path = url.pathname;
    const hit = (hits.get(path) ?? 0) + 1;
    hits.set(path, hit);
    void closedBy(path); // only registers the waiter, so a test asking later still sees this close
    res.on('close', () => closeWaiters.get(path)?.());
    const send = (status: number, headers: Record<string, string | number>, body?: Buffer) => {
      res.writeHead(status, headers);
      if (body) sent.set(path, (sent.get(path) ?? 0) + body.length);
      res.end(body);
    };
    const redirect = (location: string) => send(302, { location });
    const png = RESULTS['image.png']!;

    const result = /^\/results\/(.+)$/.exec(path)?.[1];
    if (result !== undefined && RESULTS[result]) {
      const { body, type } = RESULTS[result]!;
      const override = url.searchParams.get('type');
      const headers: Record<string, string | number> = { 'content-length': body.length };
      if (override !== 'none') headers['content-type'] = override ?? type;
      return send(200, headers, body);
    }
    const hops = /^\/hops\/(\d+)$/.exec(path)?.[1];
    // `/hops/N` reaches the result after exactly N redirects.
    if (hops !== undefined) return Number(hops) <= 1 ? redirect('/results/image.png') : redirect(`/hops/${Number(hops) - 1}`);

    switch (path) {
      case '/drip': {
        // Headers, the PNG signature, then one byte a second: alive, but never done.
        res.writeHead(200, { 'content-type': 'image/png' });
        res.write(png.body.subarray(0, 16));
        const timer = setInterval(() => res.write(Buffer.alloc(1)), 1000);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case '/silent':
        // Accepts the request and never answers.
        return;
      case '/large': {
        // Chunked, no length: 64 MiB unless the client hangs up first (far more than loopback
        // socket buffers can absorb, so finishing it would mean the client read it all).
        res.writeHead(200, { 'content-type': 'image/png' });
        let written = 0;
        const chunk = Buffer.alloc(64 * 1024);
        const pump = () => {
          while (written < LARGE_BODY && !res.destroyed) {
            const piece = written === 0 ? Buffer.concat([png.body, chunk.subarray(png.body.length)]) : chunk;
            written += piece.length;
            sent.set(path, written);
            if (!res.write(piece)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        return pump();
      }
      case '/large-declared':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': 100 * 1024 * 1024 });
        res.write(png.body);
        return;
      case '/not-png':
        return send(200, { 'content-type': 'image/png' }, Buffer.from('<html><body>Your download is ready</body></html>'.repeat(4)));
      case '/html-as-png':
        return send(200, { 'content-type': 'text/html; charset=utf-8' }, png.body);
      case '/flaky':
        return hit === 1 ? send(500, { 'content-type': 'text/plain' }, Buffer.from('oops')) : send(200, { 'content-type': 'image/png' }, png.body);
      case '/throttled':
        return hit === 1 ? send(429, { 'retry-after': '1' }, Buffer.from('slow down')) : send(200, { 'content-type': 'image/png' }, png.body);
      case '/throttled-long':
        return send(429, { 'retry-after': '3600' }, Buffer.from('come back tomorrow'));
      case '/down':
        return send(503, {}, Buffer.from('unavailable'));
      case '/truncated':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': 5000 });
        res.write(png.body);
        sent.set(path, png.body.length);
        setTimeout(() => res.destroy(), 20);
        return;
      case '/gzip':
        return send(200, { 'content-type': 'image/png', 'content-encoding': 'gzip' }, png.body);
      case '/gone':
        return send(404, {}, Buffer.from('expired'));
      case '/to-metadata':
        return redirect('http://169.254.169.254/latest/meta-data/iam/security-credentials/');
      case '/to-metadata-v6':
        return redirect('http://[fd00:ec2::254]/latest/meta-data/');
      case '/to-mapped-loopback':
        return redirect(`http://[::ffff:127.0.0.1]:${url.port}/results/image.png`);
      case '/to-localhost':
        return redirect(`http://localhost:${url.port}/results/image.png`);
      case '/to-rebind':
        return redirect(`http://rebind.example:${url.port}/results/image.png`);
      case '/to-file':
        return redirect('file:///etc/passwd');
      case '/to-self':
        return redirect(`http://127.0.0.1:${url.port}/results/image.png`);
      case '/loop-a':
        return redirect('/loop-b');
      case '/loop-b':
        return redirect('/loop-a');
      default:
        return send(404, {}, Buffer.from('no such result'));
    }
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  return {
    host: `127.0.0.1:${port}`, port, origin, hits, sent, closedBy,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export interface TestStorage {
  storage: StorageManager;
  filesDir: string;
}

export const LARGE_BODY = 64 * 1024 * 1024;

/** A fresh manager on a temp directory; max_file_size 256 KB so that "too large" is cheap to reach. */
export async function testStorage(generation: Record<string, unknown> = {}): Promise<TestStorage> {
  const tmp = await tempDir('generation');
  const filesDir = join(tmp, 'files');
  const storage = await createStorageManager({
    config: {
      data_dir: tmp, signing_secret: 's'.repeat(32), max_file_size: '256KB', generation,
      providers: { local: { type: 'local', config: { base_path: filesDir } } },
    },
    env: {},
  });
  after(() => storage.close());
  return { storage, filesDir };
}

/** Nothing in the catalog for the tenant, and no object on disk. */
export async function storedNothing(t: TestStorage, tenantId: string): Promise<boolean> {
  const listed = await t.storage.listArtifacts({ tenantId });
  const files = await storedFiles(t.filesDir);
  return listed.items.length === 0 && files.length === 0;
}
