import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { readdir } from 'node:fs/promises';
import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { after } from 'node:test';
import { createStorageManager } from '../../src/manager/create.ts';
import type { StorageManager } from '../../src/manager/storage-manager.ts';
import type { StorageConfigInput } from '../../src/config/schema.ts';
import type { ArtifactReference } from '../../src/manager/artifact-reference.ts';
import { createServer } from '../../src/server/app.ts';
import type { CreateServerOptions } from '../../src/server/app.ts';
import { mintToken } from '../../src/server/auth.ts';
import { resolveServerConfig } from '../../src/server/server-config.ts';
import type { ServerConfig } from '../../src/server/server-config.ts';
import { tempDir } from '../helpers.ts';
import type { TestDatabase } from '../catalog/databases.ts';
import { freePort } from '../../src/server/start.ts';
import type { TusUploads } from '../../src/server/tus/tus-uploads.ts';

/**
 * One real server per test file (or per catalog database): local disk in a temp directory, the
 * catalog in SQLite there or, with `database`, in a fresh PostgreSQL database (see
 * test/catalog/databases.ts), listening on 127.0.0.1 on a free port, closed after the file.
 * Requests go over loopback.
 */
export interface TestServer {
  url: string;
  storage: StorageManager;
  dataDir: string;
  /** The local provider's base: objects, `~tmp/`, its index (or where it is kept) and journal. */
  filesDir: string;
  jwtSecret: string;
  config: ServerConfig;
  /** The resumable-upload endpoint's owner (for sweeping expired uploads). */
  tus: TusUploads;
  token(claims: { tenant?: string; sub?: string; role?: string; expiresIn?: number }): Promise<string>;
  /** `Authorization` headers for a tenant's user. */
  as(tenant: string): Promise<Record<string, string>>;
  /** Store through the library (fast set-up). */
  put(tenant: string, bytes: Uint8Array, contentType: string, extra?: { artifactType?: string; boardId?: string; visibility?: 'public' | 'private' }): Promise<ArtifactReference>;
}

/**
 * The object files under the server's local base (its `~` bookkeeping aside), asserted to be
 * exactly the tenant's artifacts in the catalog; retried, as a listing can race a rename in flight.
 */
export async function objectFilesMatchCatalog(server: TestServer, tenantId: string, attempts = 20): Promise<string[]> {
  for (let attempt = 0; ; attempt++) {
    try {
      const entries = await readdir(server.filesDir, { recursive: true, withFileTypes: true });
      const files = entries.filter((e) => e.isFile()).map((e) => relative(server.filesDir, join(e.parentPath, e.name))).filter((f) => !f.startsWith('~')).sort();
      const listed = (await server.storage.listArtifacts({ tenantId, limit: 1000 })).items.map((i) => i.storageKey).sort();
      assert.deepEqual(files, listed, 'the files on disk are the catalog\'s artifacts');
      return files;
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

export async function startTestServer(options: { storage?: Partial<StorageConfigInput> | ((where: { url: string; dataDir: string }) => Partial<StorageConfigInput>); server?: Record<string, unknown>; auth?: Record<string, unknown>; logger?: CreateServerOptions['logger']; database?: TestDatabase } = {}): Promise<TestServer> {
  // Registered first so it runs first: the server closes before its database is dropped.
  const running: { close?: () => Promise<void> } = {};
  after(async () => running.close?.());
  const dataDir = await tempDir('server');
  const filesDir = join(dataDir, 'files');
  const databaseUrl = options.database ? (await options.database.fresh()).databaseUrl : undefined;
  // The signed URLs must point at this server; the port is known only after listening, so pick it first.
  const port = await freePort('127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const storageOptions = typeof options.storage === 'function' ? options.storage({ url, dataDir }) : options.storage;
  const storageConfig = { data_dir: dataDir, ...(databaseUrl ? { database_url: databaseUrl } : {}), ...storageOptions, server: options.server ?? {}, auth: options.auth ?? {} } as StorageConfigInput;
  storageConfig.providers ??= { local: { type: 'local', config: { base_path: filesDir, serve_url_base: url } } };
  const storage = await createStorageManager({ config: storageConfig, env: {} });
  const config = resolveServerConfig(storage.config, {});
  config.port = port;
  const { app, jwt, tus } = await createServer({ storage, config, logger: options.logger ?? false, processMetrics: false });
  await app.listen({ host: '127.0.0.1', port });
  running.close = async () => {
    await app.close();
    await storage.close();
  };
  const secret = jwt.secret!;
  const token: TestServer['token'] = (claims) => mintToken(secret, { subject: claims.sub ?? 'user-1', expiresIn: claims.expiresIn ?? 600, ...(claims.tenant ? { tenantId: claims.tenant } : {}), ...(claims.role ? { role: claims.role } : {}) });
  return {
    url, storage, dataDir, filesDir, jwtSecret: secret, config, token, tus,
    as: async (tenant) => ({ authorization: `Bearer ${await token({ tenant })}` }),
    put: (tenant, bytes, contentType, extra = {}) => storage.storeArtifact({
      artifactId: 'fixture', artifactType: extra.artifactType ?? 'image', contentType, content: bytes, tenantId: tenant,
      ...(extra.boardId ? { boardId: extra.boardId } : {}), ...(extra.visibility ? { visibility: extra.visibility } : {}),
    }),
  };
}


export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request with the path sent exactly as given (fetch would normalise `..` and encodings away). */
export function rawRequest(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Bytes written straight to a socket: for bodies that do not match their Content-Length and
 * clients that vanish. Resolves with what the server answered (maybe nothing) once it closes.
 */
export function socketExchange(base: string, head: string, body: Uint8Array, opts: { endAfterWrite?: boolean; destroyAfterMs?: number } = {}): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(head);
    socket.write(body, () => {
      if (opts.destroyAfterMs !== undefined) setTimeout(() => socket.destroy(), opts.destroyAfterMs);
      else if (opts.endAfterWrite) socket.end();
    });
  });
}

export function jsonHeaders(auth: Record<string, string>): Record<string, string> {
  return { ...auth, 'content-type': 'application/json' };
}

/** Poll until `check` passes (the server finishes clean-up after the client is gone). */
export async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}
