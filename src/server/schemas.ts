/**
 * JSON schemas of the HTTP API. The same objects drive request validation, response serialisation
 * and the OpenAPI document; shared ones are registered with an `$id` and appear as components.
 */

const safeId = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' } as const;
const tenantQuery = { ...safeId, description: 'service tokens only: the tenant to act for (or the X-Tenant-Id header)' } as const;

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
  },
} as const;

const ref = { $ref: 'ArtifactReference#' } as const;
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

export const storeQuery = {
  type: 'object',
  required: ['artifactType'],
  additionalProperties: false,
  properties: {
    artifactType: { ...safeId, description: 'image, video, audio, text, lora, checkpoint, ...' },
    artifactId: { ...safeId, description: 'default: the multipart file name without its extension, else a random id' },
    boardId: safeId,
    variant: safeId,
    visibility: { type: 'string', enum: ['private', 'public'], default: 'private' },
    contentType: { type: 'string', description: 'multipart only: overrides the file part\'s type' },
    tenantId: tenantQuery,
  },
} as const;

export interface StoreQuery {
  artifactType: string;
  artifactId?: string;
  boardId?: string;
  variant?: string;
  visibility: 'private' | 'public';
  contentType?: string;
  tenantId?: string;
}

export const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    boardId: safeId,
    artifactType: safeId,
    prefix: { type: 'string', maxLength: 1024, description: 'a key prefix below the tenant (image/board1/)' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    cursor: { type: 'string', maxLength: 2048 },
    tenantId: tenantQuery,
  },
} as const;

export interface ListQuery {
  boardId?: string;
  artifactType?: string;
  prefix?: string;
  limit: number;
  cursor?: string;
  tenantId?: string;
}

export const artifactPageSchema = {
  type: 'object',
  required: ['items'],
  properties: { items: { type: 'array', items: ref }, nextCursor: { type: 'string' } },
} as const;

/** `?variant=` (a preset) or a free-form transform, whose sizes are rounded to transforms.allowed_sizes. */
const transformQuery = {
  variant: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,128}$', description: 'a variant of the artifact by name (`thumb_256`); a preset not made yet is made now' },
  width: { type: 'string', pattern: '^[0-9]{1,6}$', description: 'transform: rounded up to the next of transforms.allowed_sizes' },
  height: { type: 'string', pattern: '^[0-9]{1,6}$', description: 'transform: rounded up to the next of transforms.allowed_sizes' },
  fit: { type: 'string', enum: ['cover', 'contain', 'fill', 'inside', 'outside'], description: 'transform: default inside' },
  format: { type: 'string', enum: ['webp', 'avif', 'jpeg', 'png'], description: 'transform: default webp' },
  quality: { type: 'string', pattern: '^[0-9]{1,3}$', description: 'transform: rounded to the nearest of transforms.allowed_qualities' },
} as const;

export const downloadQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    download: { type: 'string', maxLength: 255, description: 'save as this file name (Content-Disposition: attachment); empty: the key\'s last segment' },
    tenantId: tenantQuery,
    ...transformQuery,
  },
} as const;

export const keyQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { tenantId: tenantQuery },
} as const;

export const visibilityBody = {
  type: 'object',
  required: ['visibility'],
  additionalProperties: false,
  properties: { visibility: { type: 'string', enum: ['private', 'public'] } },
} as const;

export function urlsBody(maxKeys: number) {
  return {
    type: 'object',
    required: ['keys'],
    additionalProperties: false,
    properties: {
      keys: { type: 'array', minItems: 1, maxItems: maxKeys, items: { type: 'string', minLength: 1, maxLength: 1024 } },
      expiresIn: { type: 'integer', minimum: 1, maximum: 604800, default: 3600, description: 'seconds' },
      filename: { type: 'string', maxLength: 255, description: 'ask browsers to save under this name' },
      variant: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,128}$', description: 'sign URLs of this variant of each artifact (served by this service)' },
      transform: {
        type: 'object',
        additionalProperties: false,
        description: 'sign URLs of this transform of each artifact (served by this service; sizes rounded to transforms.allowed_sizes)',
        properties: {
          width: { type: 'integer', minimum: 1 }, height: { type: 'integer', minimum: 1 },
          fit: { type: 'string', enum: ['cover', 'contain', 'fill', 'inside', 'outside'] }, format: { type: 'string', enum: ['webp', 'avif', 'jpeg', 'png'] },
          quality: { type: 'integer', minimum: 1, maximum: 100 },
        },
      },
    },
  } as const;
}

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

export const uploadBody = {
  type: 'object',
  required: ['artifactType', 'contentType'],
  additionalProperties: false,
  properties: {
    artifactType: safeId,
    contentType: { type: 'string', minLength: 3, maxLength: 255 },
    artifactId: { ...safeId, description: 'default: a random id' },
    size: { type: 'integer', minimum: 0, description: 'the exact byte count, when known' },
    boardId: safeId,
    variant: safeId,
    expiresIn: { type: 'integer', minimum: 1, maximum: 604800, default: 3600 },
  },
} as const;

export interface UploadBody {
  artifactType: string;
  contentType: string;
  artifactId?: string;
  size?: number;
  boardId?: string;
  variant?: string;
  expiresIn: number;
}

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

const boardIdParam = { ...safeId, description: 'the board id' } as const;

export const boardParams = {
  type: 'object',
  required: ['boardId'],
  properties: { boardId: boardIdParam },
} as const;

export const boardListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    cursor: { type: 'string', maxLength: 2048 },
    tenantId: tenantQuery,
  },
} as const;

export const boardPageSchema = {
  type: 'object',
  required: ['items'],
  properties: {
    items: {
      type: 'array',
      items: {
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
      },
    },
    nextCursor: { type: 'string' },
  },
} as const;

export const deleteBoardResponse = {
  type: 'object',
  required: ['boardId', 'deleted', 'trashed'],
  properties: {
    boardId: { type: 'string' },
    deleted: { type: 'integer', description: 'artifacts deleted (their variants go with them)' },
    trashed: { type: 'boolean', description: 'true: they are in the trash (GET /v1/trash?boardId=) and can be restored until trash_retention passes' },
  },
} as const;

export const copyBoardBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { toBoardId: { ...safeId, description: 'the new board; default: {boardId}-copy-{8 hex}. It must have no artifacts yet (else 409)' } },
} as const;

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

export const archiveQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: { ...safeId, description: 'only artifacts of this artifact type' },
    artifactId: { type: 'array', items: { type: 'string', maxLength: 100_000 }, description: 'only artifacts with these ids (repeat the parameter, or separate with commas)' },
    keys: { type: 'array', items: { type: 'string', maxLength: 100_000 }, description: 'only these storage keys of the board (repeat the parameter, or separate with commas)' },
    tenantId: tenantQuery,
  },
} as const;

export interface ArchiveQuery {
  type?: string;
  artifactId?: string[];
  keys?: string[];
  tenantId?: string;
}
