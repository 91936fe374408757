import type { ObjectMetadata } from '../providers/provider.ts';
import { parseArtifactKey } from '../keys.ts';
import type { MediaFacts } from '../media/media-facts.ts';
import type { LineageLink } from '../catalog/lineage-records.ts';

export type Visibility = 'private' | 'public';

/** What the manager returns for a stored artifact. */
export interface ArtifactReference {
  artifactId: string;
  storageKey: string;
  storageProvider: string;
  /** The public URL of a public artifact; otherwise `{provider}://{key}`, to be turned into a signed URL. */
  storageUrl: string;
  contentType: string;
  size: number;
  sha256: string;
  visibility: Visibility;
  createdAt: string;
  tenantId: string;
  boardId?: string;
  artifactType: string;
  variant: string;
  metadata: Record<string, unknown>;
  /** What the bytes say: dimensions, duration, format, codec (images, video, audio). */
  media?: MediaFacts;
  /** Images: a ThumbHash (base64) to paint before the thumbnail arrives. */
  placeholder?: string;
  /** An original's variants (thumbnails, previews, posters), stored beside it. */
  variants?: VariantSummary[];
  /** A variant: the storage key of its original. */
  originalKey?: string;
  /** Lineage (getArtifact, GET /v1/info): what this artifact was made from. */
  inputs?: LineageLink[];
  /** Lineage: what was made from this artifact (the first 100; see `outputsTruncated`). */
  outputs?: LineageLink[];
  /** More outputs than listed: page through them with listArtifacts({ input }) or GET /v1/artifacts?input=. */
  outputsTruncated?: boolean;
}

/** One variant as its original's reference lists it. */
export interface VariantSummary {
  /** The variant's name without extension (`thumb_256`). */
  name: string;
  storageKey: string;
  contentType: string;
  size: number;
  width?: number;
  height?: number;
}

/**
 * The string metadata the manager keeps on every object, so that a provider alone can answer
 * for its artifacts. Keys are lowercase and header-safe; user metadata travels as URI-encoded JSON.
 */
export const META = {
  artifactId: 'artifact-id',
  artifactType: 'artifact-type',
  tenantId: 'tenant-id',
  boardId: 'board-id',
  variant: 'variant',
  visibility: 'visibility',
  createdAt: 'created-at',
  sha256: 'sha256',
  size: 'size',
  userMetadata: 'user-metadata',
} as const;

export function referenceMetadata(ref: Omit<ArtifactReference, 'storageUrl' | 'storageProvider' | 'storageKey' | 'sha256' | 'size' | 'contentType'>): Record<string, string> {
  const meta: Record<string, string> = {
    [META.artifactId]: ref.artifactId,
    [META.artifactType]: ref.artifactType,
    [META.tenantId]: ref.tenantId,
    [META.variant]: ref.variant,
    [META.visibility]: ref.visibility,
    [META.createdAt]: ref.createdAt,
  };
  if (ref.boardId !== undefined) meta[META.boardId] = ref.boardId;
  if (Object.keys(ref.metadata).length > 0) meta[META.userMetadata] = encodeURIComponent(JSON.stringify(ref.metadata));
  return meta;
}

/** Rebuild a reference from what a provider holds about an object. */
export function referenceFromObject(object: ObjectMetadata, provider: string, storageUrl: string): ArtifactReference {
  const m = object.metadata;
  const parsed = parseArtifactKey(object.key);
  let metadata: Record<string, unknown> = {};
  if (m[META.userMetadata]) {
    try {
      metadata = JSON.parse(decodeURIComponent(m[META.userMetadata]!)) as Record<string, unknown>;
    } catch {
      metadata = {};
    }
  }
  const boardId = m[META.boardId] ?? parsed?.boardId;
  return {
    artifactId: m[META.artifactId] ?? parsed?.artifactId ?? object.key,
    storageKey: object.key,
    storageProvider: provider,
    storageUrl,
    contentType: object.contentType,
    size: object.size,
    sha256: m[META.sha256] ?? '',
    visibility: m[META.visibility] === 'public' ? 'public' : 'private',
    createdAt: m[META.createdAt] ?? object.lastModified,
    tenantId: m[META.tenantId] ?? parsed?.tenantId ?? '',
    ...(boardId === undefined ? {} : { boardId }),
    artifactType: m[META.artifactType] ?? parsed?.artifactType ?? '',
    variant: m[META.variant] ?? parsed?.variant ?? '',
    metadata,
  };
}
