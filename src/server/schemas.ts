import { z } from 'zod';
import { SAFE_ID } from '../keys.ts';

/**
 * Schemas of the HTTP API. The same objects drive request validation, response serialisation
 * and the OpenAPI document; shared ones are registered with an `$id` and appear as components.
 *
 * Request parts (querystrings, bodies) are written once, in zod: `requestSchema` derives the JSON
 * schema Fastify's Ajv validates with (and OpenAPI shows), `z.output` the type handlers read, with
 * defaults filled in as Ajv's `useDefaults` fills them. Responses stay JSON schemas (`$ref`s to the
 * shared components).
 */

/** The JSON schema of a request part: what a client may send (defaulted fields optional), in the draft Fastify's Ajv reads. */
export function requestSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { target: 'draft-7', io: 'input' });
  return json;
}

export const safeId = z.string().regex(SAFE_ID);
export const tenantQuery = safeId.describe('service tokens only: the tenant to act for (or the X-Tenant-Id header)');
const visibility = z.enum(['private', 'public']);
/** `limit` and `cursor` of every keyset-paginated listing. */
export const pageLimit = z.number().int().min(1).max(1000).default(100);
export const pageCursor = z.string().max(2048);
/** A date-time as Ajv checks it (`format`), read as the string it is. */
const dateTime = (description: string) => z.string().meta({ format: 'date-time', description });

const usageFigures = { type: 'object', properties: { bytes: { type: 'integer' }, artifacts: { type: 'integer' } } } as const;

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        quota: {
          type: 'object',
          description: 'QUOTA_EXCEEDED (507) only: the tenant\'s usage, its limits and what the refused store asked for',
          properties: { used: usageFigures, allowed: usageFigures, requested: usageFigures },
        },
      },
    },
  },
} as const;

export const artifactReferenceSchema = {
  $id: 'ArtifactReference',
  type: 'object',
  required: ['artifactId', 'storageKey', 'storageProvider', 'storageUrl', 'contentType', 'size', 'sha256', 'visibility', 'createdAt', 'tenantId', 'artifactType', 'variant'],
  properties: {
    artifactId: { type: 'string' },
    storageKey: { type: 'string' },
    storageProvider: { type: 'string' },
    storageUrl: { type: 'string', description: 'the public URL of a public artifact; otherwise {provider}://{key}' },
    contentType: { type: 'string' },
    size: { type: 'integer' },
    sha256: { type: 'string' },
    visibility: { type: 'string', enum: ['private', 'public'] },
    createdAt: { type: 'string', format: 'date-time' },
    tenantId: { type: 'string' },
    boardId: { type: 'string' },
    artifactType: { type: 'string' },
    variant: { type: 'string' },
    metadata: { type: 'object', additionalProperties: true },
    media: {
      type: 'object',
      description: 'facts read from the bytes (images, video, audio)',
      properties: {
        width: { type: 'integer' }, height: { type: 'integer' }, format: { type: 'string' }, animated: { type: 'boolean' },
        durationMs: { type: 'integer' }, sampleRate: { type: 'integer' }, channels: { type: 'integer' }, codec: { type: 'string' },
      },
    },
    placeholder: { type: 'string', description: 'images: a ThumbHash (base64) to paint before the thumbnail arrives' },
    variants: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'storageKey', 'contentType', 'size'],
        properties: { name: { type: 'string' }, storageKey: { type: 'string' }, contentType: { type: 'string' }, size: { type: 'integer' }, width: { type: 'integer' }, height: { type: 'integer' } },
      },
    },
    originalKey: { type: 'string', description: 'a variant: its original\'s storage key' },
    inputs: { type: 'array', description: 'lineage (GET /v1/info): the artifacts this one was made from', items: { $ref: 'LineageLink#' } },
    outputs: { type: 'array', description: 'lineage (GET /v1/info): the artifacts made from this one, the first 100 (all of them: GET /v1/artifacts?input={storageKey})', items: { $ref: 'LineageLink#' } },
    outputsTruncated: { type: 'boolean', description: 'more outputs than listed' },
  },
} as const;

export const lineageLinkSchema = {
  $id: 'LineageLink',
  type: 'object',
  required: ['storageKey', 'artifactId', 'artifactType'],
  properties: {
    storageKey: { type: 'string' },
    artifactId: { type: 'string' },
    artifactType: { type: 'string' },
    deleted: { type: 'boolean', description: 'present (true) when the linked artifact has been deleted; the link stays' },
  },
} as const;

/** Storage keys of a store's inputs (lineage): artifacts of the same tenant. */
const inputKeys = z.array(z.string().min(1).max(1024)).max(100);
const userMetadata = z.record(z.string(), z.unknown());

const ref = { $ref: 'ArtifactReference#' } as const;

/** A keyset page of `item`s, as every listing route answers: `{ items, nextCursor? }`. */
export function pageOf<const T extends object>(item: T) {
  return { type: 'object', required: ['items'], properties: { items: { type: 'array', items: item }, nextCursor: { type: 'string' } } } as const;
}
const errorRef = { $ref: 'Error#' } as const;

/** The error responses a route may give, by status. */
export function errors(...statuses: number[]): Record<string, typeof errorRef> {
  return Object.fromEntries(statuses.map((s) => [String(s), errorRef]));
}

export const storageKeyParams = {
  type: 'object',
  required: ['*'],
  properties: { '*': { type: 'string', description: 'the storage key, slashes included' } },
} as const;

const storeQuerySchema = z.object({
  artifactType: safeId.describe('image, video, audio, text, lora, checkpoint, ...'),
  artifactId: safeId.describe('default: the multipart file name without its extension, else a random id').optional(),
  boardId: safeId.optional(),
  variant: safeId.optional(),
  visibility: visibility.default('private'),
  contentType: z.string().describe('multipart only: overrides the file part\'s type').optional(),
  input: inputKeys.describe('lineage: the storage key of an artifact this one was made from (repeat for several); the caller\'s own artifacts only').optional(),
  tenantId: tenantQuery.optional(),
}).strict();
export const storeQuery = requestSchema(storeQuerySchema);
export type StoreQuery = z.output<typeof storeQuerySchema>;

const listQuerySchema = z.object({
  boardId: safeId.optional(),
  artifactType: safeId.optional(),
  artifactId: safeId.describe('only artifacts with this artifact id').optional(),
  input: z.string().min(1).max(1024).describe('lineage: only the artifacts made from this one (its storage key); deleted ones are left out').optional(),
  prefix: z.string().max(1024).describe('a key prefix below the tenant (image/board1/)').optional(),
  limit: pageLimit,
  cursor: pageCursor.optional(),
  tenantId: tenantQuery.optional(),
}).strict();
export const listQuery = requestSchema(listQuerySchema);
export type ListQuery = z.output<typeof listQuerySchema>;

export const artifactPageSchema = pageOf(ref);

const fit = z.enum(['cover', 'contain', 'fill', 'inside', 'outside']);
const format = z.enum(['webp', 'avif', 'jpeg', 'png']);

/** `?variant=` (a preset) or a free-form transform, whose sizes are rounded to transforms.allowed_sizes. */
const transformQuery = {
  variant: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/).describe('a variant of the artifact by name (`thumb_256`); a preset not made yet is made now').optional(),
  width: z.string().regex(/^[0-9]{1,6}$/).describe('transform: rounded up to the next of transforms.allowed_sizes').optional(),
  height: z.string().regex(/^[0-9]{1,6}$/).describe('transform: rounded up to the next of transforms.allowed_sizes').optional(),
  fit: fit.describe('transform: default inside').optional(),
  format: format.describe('transform: default webp').optional(),
  quality: z.string().regex(/^[0-9]{1,3}$/).describe('transform: rounded to the nearest of transforms.allowed_qualities').optional(),
};

const downloadQuerySchema = z.object({
  download: z.string().max(255).describe('save as this file name (Content-Disposition: attachment); empty: the key\'s last segment').optional(),
  tenantId: tenantQuery.optional(),
  ...transformQuery,
}).strict();
export const downloadQuery = requestSchema(downloadQuerySchema);
export type DownloadQuery = z.output<typeof downloadQuerySchema>;

export const keyQuery = requestSchema(z.object({ tenantId: tenantQuery.optional() }).strict());

const infoPatchBodySchema = z.object({
  visibility: visibility.optional(),
  metadata: userMetadata.describe('merged into the artifact\'s metadata: keys set to null are removed; the result is held to the limits of a store (16 KiB of JSON)').optional(),
}).strict().meta({ minProperties: 1 }); // Ajv refuses an empty patch; zod's own parse is never used here
export const infoPatchBody = requestSchema(infoPatchBodySchema);
export type InfoPatchBody = z.output<typeof infoPatchBodySchema>;

const auditQuerySchema = z.object({
  key: z.string().min(1).max(1024).describe('one artifact\'s events (its storage key)').optional(),
  boardId: safeId.describe('one board\'s events').optional(),
  since: dateTime('events at or after this time').optional(),
  until: dateTime('events before this time').optional(),
  limit: pageLimit,
  cursor: pageCursor.optional(),
  tenantId: tenantQuery.optional(),
}).strict();
export const auditQuery = requestSchema(auditQuerySchema);
export type AuditQueryString = z.output<typeof auditQuerySchema>;

export const auditPageSchema = pageOf({
  type: 'object',
  required: ['id', 'at', 'action', 'tenantId', 'storageKey', 'details'],
  properties: {
    id: { type: 'string' }, at: { type: 'string', format: 'date-time' }, action: { type: 'string' }, tenantId: { type: 'string' },
    storageKey: { type: 'string' }, boardId: { type: 'string' }, actor: { type: 'string', description: 'the token\'s subject' },
    details: { type: 'object', additionalProperties: true },
  },
});

function urlsBodySchema(maxKeys: number) {
  return z.object({
    keys: z.array(z.string().min(1).max(1024)).min(1).max(maxKeys),
    expiresIn: z.number().int().min(1).max(604800).default(3600).describe('seconds'),
    filename: z.string().max(255).describe('ask browsers to save under this name').optional(),
    variant: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/).describe('sign URLs of this variant of each artifact (served by this service)').optional(),
    transform: z.object({
      width: z.number().int().min(1).optional(),
      height: z.number().int().min(1).optional(),
      fit: fit.optional(),
      format: format.optional(),
      quality: z.number().int().min(1).max(100).optional(),
    }).strict().describe('sign URLs of this transform of each artifact (served by this service; sizes rounded to transforms.allowed_sizes)').optional(),
  }).strict();
}
export function urlsBody(maxKeys: number): Record<string, unknown> {
  return requestSchema(urlsBodySchema(maxKeys));
}
export type UrlsBody = z.output<ReturnType<typeof urlsBodySchema>>;

export const urlsResponse = {
  type: 'object',
  required: ['urls', 'expiresAt'],
  properties: {
    expiresAt: { type: 'string', format: 'date-time' },
    urls: {
      type: 'array',
      items: { type: 'object', required: ['storageKey', 'url'], properties: { storageKey: { type: 'string' }, url: { type: 'string' } } },
    },
  },
} as const;

const uploadBodySchema = z.object({
  artifactType: safeId,
  contentType: z.string().min(3).max(255),
  artifactId: safeId.describe('default: a random id').optional(),
  size: z.number().int().min(0).describe('the exact byte count, when known').optional(),
  boardId: safeId.optional(),
  variant: safeId.optional(),
  expiresIn: z.number().int().min(1).max(604800).default(3600),
  metadata: userMetadata.describe('recorded with the artifact when the upload is completed').optional(),
  inputs: inputKeys.describe('lineage: storage keys of the caller\'s artifacts this one is made from; recorded at completion').optional(),
}).strict();
export const uploadBody = requestSchema(uploadBodySchema);
export type UploadBody = z.output<typeof uploadBodySchema>;

export const uploadResponse = {
  type: 'object',
  required: ['url', 'method', 'expiresAt', 'storageKey', 'storageProvider'],
  properties: {
    url: { type: 'string' },
    method: { type: 'string', enum: ['PUT', 'POST'] },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    fields: { type: 'object', additionalProperties: { type: 'string' } },
    expiresAt: { type: 'string', format: 'date-time' },
    storageKey: { type: 'string' },
    storageProvider: { type: 'string' },
  },
} as const;

const countAndBytes = { count: { type: 'integer' }, bytes: { type: 'integer' } } as const;

export const statsResponse = {
  type: 'object',
  required: ['tenantId', 'total', 'byArtifactType', 'byProvider'],
  properties: {
    tenantId: { type: 'string' },
    total: { type: 'object', properties: countAndBytes },
    byArtifactType: { type: 'array', items: { type: 'object', properties: { artifactType: { type: 'string' }, ...countAndBytes } } },
    byProvider: { type: 'array', items: { type: 'object', properties: { provider: { type: 'string' }, ...countAndBytes } } },
    quota: {
      type: 'object',
      description: 'present when the tenant has a quota (storage.quotas): live artifacts against the limits; the trash is not counted',
      properties: { used: usageFigures, allowed: usageFigures },
    },
    trash: { type: 'object', description: 'deleted artifacts still in the trash (not in the figures above)', properties: countAndBytes },
  },
} as const;

const check = { type: 'object', properties: { ok: { type: 'boolean' }, ms: { type: 'number' }, error: { type: 'string', description: 'the failure\'s code; the server log has its message' }, breaker: { type: 'string' } } } as const;

export const healthResponse = {
  type: 'object',
  required: ['ok'],
  properties: {
    ok: { type: 'boolean' },
    checkedAt: { type: 'string', format: 'date-time', description: 'when the background check this answer comes from finished' },
    ageMs: { type: 'number', description: 'how long ago that was' },
    node: {
      type: 'object',
      description: 'this node, and whether it holds the leader lease (runs the background work)',
      properties: {
        node: { type: 'string' }, leader: { type: 'boolean' }, holder: { type: 'string', description: 'the node holding the lease' },
        term: { type: 'number', description: 'grows at every hand-over of the lease' }, mode: { type: 'string', enum: ['single-node', 'lease', 'worker'] },
      },
    },
    catalog: check,
    providers: { type: 'object', additionalProperties: check },
  },
} as const;

/** Checked by the signature, not the schema: a missing part is a 403 like any other bad signature. */
export const signedQuery = {
  type: 'object',
  properties: {
    m: { type: 'string', enum: ['GET', 'PUT'] },
    exp: { type: 'string' },
    sig: { type: 'string' },
    max: { type: 'string' },
    ct: { type: 'string' },
    fn: { type: 'string' },
    tf: { type: 'string', description: 'a signed transform or variant' },
  },
} as const;

const boardParamsSchema = z.object({ boardId: safeId.describe('the board id') });
export const boardParams = requestSchema(boardParamsSchema);
export type BoardParams = z.output<typeof boardParamsSchema>;

const boardListQuerySchema = z.object({ limit: pageLimit, cursor: pageCursor.optional(), tenantId: tenantQuery.optional() }).strict();
export const boardListQuery = requestSchema(boardListQuerySchema);
export type BoardListQuery = z.output<typeof boardListQuerySchema>;

export const boardPageSchema = pageOf({
  type: 'object',
  required: ['boardId', 'artifacts', 'bytes', 'lastActivity'],
  properties: {
    boardId: { type: 'string' },
    artifacts: { type: 'integer', description: 'artifacts on the board (variants are not counted)' },
    bytes: { type: 'integer', description: 'their bytes, variants included' },
    lastActivity: { type: 'string', format: 'date-time', description: 'when its newest artifact was stored' },
    cover: {
      type: 'object',
      description: 'the board\'s newest image; absent when it has none',
      required: ['storageKey', 'artifactId', 'contentType'],
      properties: {
        storageKey: { type: 'string' }, artifactId: { type: 'string' }, contentType: { type: 'string' },
        width: { type: 'integer' }, height: { type: 'integer' },
        placeholder: { type: 'string', description: 'a ThumbHash (base64)' },
        thumbnailKey: { type: 'string', description: 'the storage key of its thumbnail variant, when one has been made' },
      },
    },
  },
});

export const deleteBoardResponse = {
  type: 'object',
  required: ['boardId', 'deleted', 'trashed'],
  properties: {
    boardId: { type: 'string' },
    deleted: { type: 'integer', description: 'artifacts deleted (their variants go with them)' },
    trashed: { type: 'boolean', description: 'true: they are in the trash (GET /v1/trash?boardId=) and can be restored until trash_retention passes' },
  },
} as const;

const copyBoardBodySchema = z.object({
  toBoardId: safeId.describe('the new board; default: {boardId}-copy-{8 hex}. It must have no artifacts yet (else 409)').optional(),
}).strict();
/** An empty body is allowed too (null). */
export const copyBoardBody = { ...requestSchema(copyBoardBodySchema), type: ['object', 'null'] };
export type CopyBoardBody = z.output<typeof copyBoardBodySchema> | null;

export const copyBoardResponse = {
  type: 'object',
  required: ['boardId', 'toBoardId', 'copied', 'variants', 'bytes', 'serverSide'],
  properties: {
    boardId: { type: 'string' },
    toBoardId: { type: 'string' },
    copied: { type: 'integer', description: 'artifacts copied (variants not counted)' },
    variants: { type: 'integer', description: 'their variants, copied with them' },
    bytes: { type: 'integer' },
    serverSide: { type: 'integer', description: 'objects the backend copied itself' },
  },
} as const;

const archiveQuerySchema = z.object({
  type: safeId.describe('only artifacts of this artifact type').optional(),
  artifactId: z.array(z.string().max(100_000)).describe('only artifacts with these ids (repeat the parameter, or separate with commas)').optional(),
  keys: z.array(z.string().max(100_000)).describe('only these storage keys of the board (repeat the parameter, or separate with commas)').optional(),
  tenantId: tenantQuery.optional(),
}).strict();
export const archiveQuery = requestSchema(archiveQuerySchema);
export type ArchiveQuery = z.output<typeof archiveQuerySchema>;
