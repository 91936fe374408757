import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { errorBody } from '../errors.ts';

/**
 * The web console at /console: the single-page app under console/, built by esbuild into
 * dist/console (scripts/build-console.ts). Only the files of the build are served, looked up by their exact
 * URL path, so no request path is ever joined onto the disk path. Hashed assets are immutable;
 * index.html is revalidated on every load, and a rebuild (a new index.html) is picked up at once.
 */
export function consoleRoutes(app: FastifyInstance, options: { dir?: string } = {}): void {
  let dir = options.dir ?? builtConsoleDir();
  let built = { stamp: -1, files: new Map<string, string>() };
  const currentFiles = () => {
    dir ??= builtConsoleDir();
    const stamp = dir ? statSync(join(dir, 'index.html'), { throwIfNoEntry: false })?.mtimeMs ?? -1 : -1;
    if (stamp !== built.stamp) built = { stamp, files: stamp < 0 ? new Map() : consoleFiles(dir!) };
    return built.files;
  };
  const notBuilt = () => errorBody('CONSOLE_NOT_BUILT', 'the console is not built here: run `npm run build:console` in the package (npm start does it)');

  app.get('/console', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/console/', 301));
  app.get('/console/*', { schema: { hide: true } }, async (request, reply) => {
    const path = (request.params as { '*'?: string })['*'] ?? '';
    const files = currentFiles();
    if (files.size === 0) return reply.code(503).header('cache-control', 'no-store').send(notBuilt());
    // Client-side routes live in the fragment, so anything that is not a built file is a 404.
    const file = files.get(path === '' ? 'index.html' : path);
    if (!file) return reply.code(404).send(errorBody('NOT_FOUND', `no console file ${path}`));
    return sendFile(reply, file, path === '' || path === 'index.html');
  });
}

/** Where the build lives: `dist/console` beside the package's package.json (from src/ or dist/src/ alike). */
export function builtConsoleDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
  const built = join(dir, 'dist', 'console');
  return existsSync(join(built, 'index.html')) ? built : undefined;
}

/** URL path (relative to /console/) -> file, for every file of the build. */
function consoleFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    files.set(relative(dir, file).split(sep).join('/'), file);
  }
  return files;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.woff2': 'font/woff2',
};

/**
 * The page may load media from wherever signed URLs point (S3, GCS...), but scripts, styles and API
 * calls only from this origin; no framing, and no Referer that could carry a signed URL elsewhere.
 */
const PAGE_POLICY = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src * data: blob:", "media-src * blob:",
  "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'none'",
].join('; ');

function sendFile(reply: FastifyReply, file: string, isPage: boolean): FastifyReply {
  reply.header('content-type', TYPES[extname(file)] ?? 'application/octet-stream');
  reply.header('x-content-type-options', 'nosniff');
  if (isPage) {
    reply.header('cache-control', 'no-cache');
    reply.header('content-security-policy', PAGE_POLICY);
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
  } else {
    // The build names every asset by its content hash: a changed file is a new URL.
    reply.header('cache-control', file.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
  }
  return reply.send(createReadStream(file));
}
