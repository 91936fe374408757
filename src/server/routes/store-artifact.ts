import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Multipart, MultipartFile } from '@fastify/multipart';
import { StorageError, ValidationError } from '../../errors.ts';
import { contentTypeForFileName, isContentTypeAllowed, normalizeContentType } from '../../content/content-types.ts';
import type { RouteContext } from '../context.ts';
import { principalOf, tenantOf } from '../context.ts';
import { errors, storeQuery } from '../schemas.ts';
import type { StoreQuery } from '../schemas.ts';
import { clientBytes, clientGone } from '../request-body.ts';

/** POST /v1/artifacts: a raw body (its Content-Type is the artifact's) or multipart with a `file` part. */
export function storeArtifactRoute(app: FastifyInstance, ctx: RouteContext): void {
  app.post<{ Querystring: StoreQuery }>('/v1/artifacts', {
    schema: {
      summary: 'Store an artifact',
      description: 'The body streams to the provider: raw (Content-Type is the artifact\'s) or multipart/form-data with a `file` field. The size limit, the content-type allowlist and magic-byte sniffing apply while streaming; on failure nothing is stored. `input` (repeatable, in the query or as multipart fields before the file) names the artifacts this one was made from (lineage).',
      tags: ['artifacts'],
      querystring: storeQuery,
      response: { 201: { $ref: 'ArtifactReference#' }, ...errors(400, 401, 403, 413, 415, 500, 503, 507) },
    },
  }, async (request, reply) => {
    const principal = principalOf(request);
    const tenantId = tenantOf(request);
    const query = request.query;
    // Held until the answer is sent: the temp file and the connection are in use until then.
    reply.raw.once('close', ctx.uploads.acquire(tenantId));
    const upload = request.isMultipart() ? await multipartUpload(request, ctx, query) : rawUpload(request, ctx);
    const artifactId = query.artifactId ?? upload.suggestedId ?? randomUUID();
    const signal = clientGone(request);
    const started = performance.now();
    let outcome = 'error';
    try {
      const ref = await ctx.storage.storeArtifact({
        artifactId, artifactType: query.artifactType, contentType: upload.contentType, content: upload.content, tenantId,
        visibility: query.visibility, actor: principal.subject, signal,
        ...(query.boardId === undefined ? {} : { boardId: query.boardId }),
        ...(query.variant === undefined ? {} : { variant: query.variant }),
        ...(upload.size === undefined ? {} : { size: upload.size }),
        ...(query.input || upload.inputs ? { inputs: [...query.input ?? [], ...upload.inputs ?? []] } : {}),
      });
      outcome = 'ok';
      return reply.code(201).header('location', `/v1/info/${ref.storageKey}`).send(ref);
    } finally {
      ctx.metrics.storeSeconds.observe({ outcome }, (performance.now() - started) / 1000);
    }
  });
}

const FORM_URLENCODED = 'application/x-www-form-urlencoded';
const SET_CONTENT_TYPE = 'set Content-Type to the artifact\'s type (curl: -H "Content-Type: image/png"), or send multipart/form-data with a "file" field (curl: -F file=@fox.png)';

interface Upload {
  contentType: string;
  content: AsyncIterable<Uint8Array>;
  size?: number;
  suggestedId?: string;
  /** Multipart: `input` fields sent before the file (lineage), besides the query's. */
  inputs?: string[];
}

function rawUpload(request: FastifyRequest, ctx: RouteContext): Upload {
  const header = request.headers['content-type'];
  if (!header) throw new ValidationError(`the request has no Content-Type; ${SET_CONTENT_TYPE}`, { code: 'CONTENT_TYPE_NOT_ALLOWED' });
  // What curl sends for --data-binary without -H "Content-Type: ...": a missing header, not a type to allow.
  if (normalizeContentType(header) === FORM_URLENCODED && !isContentTypeAllowed(ctx.storage.config.allowedContentTypes, FORM_URLENCODED)) {
    throw new ValidationError(`the body came as ${FORM_URLENCODED}, curl's default when no Content-Type is given; ${SET_CONTENT_TYPE}`, { code: 'CONTENT_TYPE_NOT_ALLOWED', details: { contentType: FORM_URLENCODED } });
  }
  const length = request.headers['content-length'];
  const size = length !== undefined && request.headers['transfer-encoding'] === undefined ? Number(length) : undefined;
  return {
    contentType: normalizeContentType(header),
    content: clientBytes(request.body as Readable ?? request.raw, (n) => ctx.metrics.bytesIn.inc({ route: '/v1/artifacts' }, n), ctx.config.bodyIdleTimeoutMs),
    ...(size !== undefined && Number.isSafeInteger(size) ? { size } : {}),
  };
}

async function multipartUpload(request: FastifyRequest, ctx: RouteContext, query: StoreQuery): Promise<Upload> {
  // The manager enforces max_file_size while streaming; busboy's own limit sits just above it. Two
  // files are let through so that a second one is seen and refused, not silently dropped.
  const parts = request.parts({ limits: { fileSize: ctx.storage.config.maxFileSize + 1, files: 2, fields: 20, parts: 22, fieldSize: 64 * 1024 } })[Symbol.asyncIterator]();
  let part: MultipartFile | undefined;
  const inputs: string[] = [];
  while (!part) {
    const next = await nextPart(parts);
    if (next.done) break;
    if (next.value.type === 'file') part = next.value;
    else if (next.value.fieldname === 'input' && typeof next.value.value === 'string') inputs.push(next.value.value);
  }
  if (!part) throw new ValidationError('the multipart body has no file part; send the artifact as a "file" field');
  if (part.fieldname !== 'file') {
    part.file.resume();
    throw new ValidationError(`the multipart file field must be named "file", not "${part.fieldname}"`);
  }
  const declared = part.mimetype ? normalizeContentType(part.mimetype) : '';
  const fromName = part.filename ? contentTypeForFileName(part.filename) : undefined;
  const contentType = query.contentType ?? (declared && declared !== 'application/octet-stream' ? declared : (fromName ?? (declared || 'application/octet-stream')));
  const stem = idFromFileName(part.filename);
  const file = part.file;
  async function* onlyFile(): AsyncGenerator<Uint8Array> {
    yield* clientBytes(file, (n) => ctx.metrics.bytesIn.inc({ route: '/v1/artifacts' }, n), ctx.config.bodyIdleTimeoutMs);
    // The rest of the body, before the artifact is committed: another file part fails the store.
    for (;;) {
      const next = await nextPart(parts);
      if (next.done) return;
      if (next.value.type === 'file') {
        next.value.file.resume();
        throw new ValidationError('the multipart body has more than one file part; send one artifact per request, as one "file" field; nothing was stored');
      }
    }
  }
  return { contentType, content: onlyFile(), ...(stem ? { suggestedId: stem } : {}), ...(inputs.length ? { inputs } : {}) };
}

/** The next part of a multipart body; a malformed body or a limit passed is a client error. */
async function nextPart(parts: AsyncIterator<Multipart>): Promise<IteratorResult<Multipart>> {
  try {
    return await parts.next();
  } catch (error) {
    if ((error as { code?: string }).code === 'FST_FILES_LIMIT') throw new ValidationError('the multipart body has more than one file part; send one artifact per request, as one "file" field; nothing was stored', { cause: error });
    if (error instanceof StorageError || (error as { statusCode?: number }).statusCode) throw error;
    throw new ValidationError(`the multipart body is malformed: ${(error as Error).message}`, { cause: error });
  }
}

/** `Fox photo (1).png` -> `Fox-photo-1`: a file name is a suggestion, not an id the caller chose. */
function idFromFileName(filename: string | undefined): string | undefined {
  if (!filename) return undefined;
  const base = filename.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '');
  const id = base.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 128);
  return id && id !== '.' && id !== '..' ? id : undefined;
}
