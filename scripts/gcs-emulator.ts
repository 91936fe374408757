/**
 * The Cloud Storage emulator from the pinned `firebase-tools` package (installed by
 * `scripts/gcs-emulator.sh` into its state folder, not a dependency of the project), serving the GCS JSON API on
 * 127.0.0.1 without Java: its Firebase rules runtime (a Java process) is never started, and only
 * the GCS routes (`/storage/v1/...`, `/upload/storage/v1/...`, `/{bucket}/{object}`) are used,
 * which firebase-tools serves through its admin layer without rules. `scripts/gcs-emulator.sh`
 * starts this file; run it directly only for debugging:
 *
 *   node scripts/gcs-emulator.ts --port 9199 --dir /some/state/dir --tools /where/firebase-tools/is/installed
 *
 * Two gaps of the emulator are filled here, both as the GCS JSON API documents them, so the
 * provider's real code paths run against it:
 *   - resumable uploads: the emulator buffers each PUT whole (130 MB limit) and finalises the
 *     session on the first PUT; here the body streams to its staging file and `Content-Range`
 *     decides between 308 (more to come, `Range: bytes=0-N`) and the final object.
 *   - listing with `startOffset`/`endOffset`, which the emulator ignores.
 *   - objects.patch and copy/rewrite answer 501 under the `/storage/v1` prefix that clients use:
 *     the prefix is dropped before the emulator's router sees the request.
 * Everything else (no bucket creation route, buckets appearing on first write, unverified signed
 * URLs, no signed PUT uploads) stays as the emulator has it; the tests say what they skip and why.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface Upload { id: string; size: number; status: string; bucketId: string; objectId: string }
interface Emulator {
  adminStorageLayer: {
    uploadObject(upload: Upload): Promise<unknown>;
    listObjects(request: { bucketId: string; prefix: string; delimiter: string; maxResults: number }): Promise<{ items?: { name: string }[] }>;
    createBucket(id: string): void;
  };
  uploadService: {
    getResumableUpload(id: string): Upload;
    continueResumableUpload(id: string, bytes: Buffer): Upload;
    finalizeResumableUpload(id: string): Upload;
    cancelResumableUpload(id: string): Upload;
  };
}

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const port = Number(args.get('port') ?? 9199);
const dir = args.get('dir') ?? join(process.cwd(), '.gcs-emulator');
const projectId = args.get('project') ?? 'boards-test';
// firebase-tools is resolved from the folder the script installed it into.
const require = createRequire(resolve(args.get('tools') ?? join(dir, 'tools'), 'package.json'));

// The emulator keeps its blobs under os.tmpdir(): point that at our state directory.
mkdirSync(join(dir, 'tmp'), { recursive: true });
process.env.TMPDIR = join(dir, 'tmp');

const base = 'firebase-tools/lib/emulator/';
const { StorageEmulator } = require(`${base}storage/index.js`) as { StorageEmulator: new (args: object) => Emulator };
const { EmulatorRegistry } = require(`${base}registry.js`) as { EmulatorRegistry: { set(name: string, instance: unknown): void } };
const { createApp } = require(`${base}storage/server.js`) as { createApp(projectId: string, emulator: Emulator): Promise<(req: IncomingMessage, res: ServerResponse) => void> };
const { CloudStorageObjectMetadata } = require(`${base}storage/metadata.js`) as { CloudStorageObjectMetadata: new (metadata: unknown) => object };

const emulator = new StorageEmulator({ projectId, host: '127.0.0.1', port, rules: { name: 'unused.rules', content: '' }, auto_download: false });
// Object metadata builds its selfLink/mediaLink from the registry.
EmulatorRegistry.set('storage', emulator);
const app = await createApp(projectId, emulator);

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
  const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
  if (upload && req.method === 'PUT' && url.searchParams.get('upload_id')) {
    void resumablePut(req, res, url.searchParams.get('upload_id')!).catch((error: unknown) => fail(res, error));
    return;
  }
  if (upload && req.method === 'DELETE' && url.searchParams.get('upload_id')) {
    try {
      emulator.uploadService.cancelResumableUpload(url.searchParams.get('upload_id')!);
      send(res, 499, '');
    } catch {
      send(res, 404, '');
    }
    return;
  }
  const list = /^(?:\/storage\/v1)?\/b\/([^/]+)\/o$/.exec(url.pathname);
  if (list && req.method === 'GET' && (url.searchParams.has('startOffset') || url.searchParams.has('endOffset')) && !url.searchParams.get('delimiter')) {
    void listWithOffsets(res, decodeURIComponent(list[1]!), url.searchParams).catch((error: unknown) => fail(res, error));
    return;
  }
  // Some JSON API routes (objects.patch, copy/rewrite) exist only without the `/storage/v1` prefix
  // that client libraries send; every route exists in that form.
  if (url.pathname.startsWith('/storage/v1/')) req.url = req.url!.slice('/storage/v1'.length);
  app(req, res);
});

/** One PUT of a resumable session: streamed to the staging file; `Content-Range` says whether it is the last. */
async function resumablePut(req: IncomingMessage, res: ServerResponse, uploadId: string): Promise<void> {
  let session: Upload;
  try {
    session = emulator.uploadService.getResumableUpload(uploadId);
  } catch {
    req.resume();
    return send(res, 404, 'No such upload');
  }
  if (session.status !== 'active') {
    req.resume();
    return session.status === 'cancelled' ? send(res, 499, '') : send(res, 400, 'upload is not active');
  }
  // `bytes A-B/T`, `bytes A-B/*`, `bytes */T`, `bytes */*`, or none (the whole object in one PUT).
  const range = /^bytes (?:(\d+)-(\d+)|\*)\/(\d+|\*)$/.exec(req.headers['content-range'] ?? '');
  const first = range?.[1] === undefined ? undefined : Number(range[1]);
  const total = range ? (range[3] === '*' ? undefined : Number(range[3])) : 'unbounded';
  if (first !== undefined && first !== session.size) {
    // Not where the session is: tell the client what we have, it resends from there.
    req.resume();
    return resumeIncomplete(res, session.size);
  }
  for await (const chunk of req) emulator.uploadService.continueResumableUpload(uploadId, chunk as Buffer);
  if (total === 'unbounded' || (total !== undefined && session.size >= total)) {
    const finished = emulator.uploadService.finalizeResumableUpload(uploadId);
    const metadata = await emulator.adminStorageLayer.uploadObject(finished);
    return send(res, 200, JSON.stringify(new CloudStorageObjectMetadata(metadata)), 'application/json');
  }
  return resumeIncomplete(res, session.size);
}

function resumeIncomplete(res: ServerResponse, received: number): void {
  res.writeHead(308, received > 0 ? { Range: `bytes=0-${received - 1}`, 'Content-Length': '0' } : { 'Content-Length': '0' });
  res.end();
}

/** objects.list with startOffset (inclusive) and endOffset (exclusive), page tokens as the emulator makes them (the next name). */
async function listWithOffsets(res: ServerResponse, bucketId: string, query: URLSearchParams): Promise<void> {
  emulator.adminStorageLayer.createBucket(bucketId);
  const all = await emulator.adminStorageLayer.listObjects({ bucketId, prefix: query.get('prefix') ?? '', delimiter: '', maxResults: Number.MAX_SAFE_INTEGER });
  const start = query.get('startOffset') ?? '';
  const end = query.get('endOffset');
  const token = query.get('pageToken');
  const max = Math.max(1, Math.min(Number(query.get('maxResults') ?? 1000) || 1000, 1000));
  let items = (all.items ?? []).filter((item) => item.name >= start && (end === null || item.name < end) && (token === null || item.name >= token));
  const nextPageToken = items.length > max ? items[max]!.name : undefined;
  items = items.slice(0, max);
  send(res, 200, JSON.stringify({
    kind: 'storage#objects',
    ...(nextPageToken ? { nextPageToken } : {}),
    ...(items.length > 0 ? { items: items.map((item) => new CloudStorageObjectMetadata(item)) } : {}),
  }), 'application/json');
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain'): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function fail(res: ServerResponse, error: unknown): void {
  console.error(error);
  if (!res.headersSent) send(res, 500, (error as Error).message ?? String(error));
  else res.destroy();
}

server.listen(port, '127.0.0.1', () => {
  writeFileSync(join(dir, 'ready'), `http://127.0.0.1:${port}\n`);
  console.log(`gcs emulator (firebase-tools storage) on http://127.0.0.1:${port}, blobs in ${process.env.TMPDIR}`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
