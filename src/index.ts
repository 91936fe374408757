// Public surface of boards-storage. Internal modules import each other directly, never through here.
export { createStorageManager, createDevelopmentStorage } from './manager/create.ts';
export type { CreateStorageManagerOptions, DevelopmentStorageOptions } from './manager/create.ts';
export { StorageManager } from './manager/storage-manager.ts';
export type { StoreArtifactInput, UploadUrlRequest, UploadUrl, DownloadUrlOptions, ArtifactPage, ActorOptions, HealthReport } from './manager/storage-manager.ts';
export type { TrashedReference, TrashPage } from './manager/storage-manager.ts';
export type { ArtifactQuery, MetadataPatch } from './manager/storage-manager.ts';
export type { LineageLink } from './catalog/lineage-records.ts';
export type { AuditQuery, AuditEntry, AuditPage } from './catalog/audit-records.ts';
export type { ArtifactReference, Visibility } from './manager/artifact-reference.ts';
export type { StorageMetrics, VerifiedFile } from './manager/storage-manager.ts';
export { ReadIntegrity } from './manager/read-integrity.ts';
export type { IntegrityEvent, IntegrityFigures } from './manager/read-integrity.ts';
// Operations a store never runs load with their first call (see operations/on-first-use.ts).
export { verifyArtifacts, syncMirrors, backup, restore, pointInTimeRestore } from './operations/on-first-use.ts';
export { allGood } from './operations/verify-outcome.ts';
export type { VerifyOptions, VerifyReport, VerifyProblem, VerifyStatus } from './operations/verify.ts';
export { ContentCheck, verifyStream } from './content/verify-stream.ts';
export type { ExpectedContent } from './content/verify-stream.ts';
export type { SyncMirrorsOptions, SyncMirrorsReport } from './operations/sync-mirrors.ts';
export { Catalog } from './catalog/catalog.ts';
export type { ListArtifactsQuery, CatalogArtifact, UsageFigures, AuditEvent, AuditAction } from './catalog/catalog.ts';
export { selectProvider } from './manager/routing.ts';
export type { RoutingInput } from './manager/routing.ts';

export { loadConfig } from './config/load.ts';
export type { StorageConfig, RoutingRule, RoutingCondition, ProviderEntry, ConfigSource, LoadConfigOptions } from './config/load.ts';
export type { ClusterConfig } from './config/cluster-config.ts';
export type { StorageConfigInput } from './config/schema.ts';
export { parseSize, parseDuration } from './config/sizes.ts';

export { registerProviderType, providerTypes } from './providers/registry.ts';
export type { StorageProvider, ProviderFactory, ProviderContext, ProviderCapabilities, UploadOptions, ByteRange, OpenFile, ObjectMetadata, ListedObject, ListResult, PresignedUpload } from './providers/provider.ts';
export { LocalProvider } from './providers/local.ts';
export type { LocalProviderConfig } from './providers/local.ts';
export { MemoryProvider } from './providers/memory.ts';
// The cloud providers' classes are exported as types only, so that importing the package does not
// load three SDKs: configure `type: s3 | gcs | supabase`, or import the class from its subpath
// (boards-storage/providers/s3, .../gcs, .../supabase).
export type { S3Provider, S3ProviderConfig } from './providers/s3.ts';
export type { GcsProvider, GcsProviderConfig } from './providers/gcs.ts';
export type { SupabaseProvider, SupabaseProviderConfig } from './providers/supabase.ts';
export { signUrl, verifySignedUrl, verifySignedRequest, SIGNED_PATH } from './providers/signed-url.ts';
export type { SignedUrlClaims, SignedMethod } from './providers/signed-url.ts';
export { encodeCursor, decodeCursor } from './providers/list-cursor.ts';
export type { Layer } from './layers/layer.ts';

export { buildArtifactKey, buildTempKey, parseArtifactKey, assertSafeId, assertSafeKey } from './keys.ts';
export type { ArtifactKeyParts, ParsedArtifactKey } from './keys.ts';
export { DEFAULT_ALLOWED_CONTENT_TYPES, contentTypeMatches, contentTypeForFileName } from './content/content-types.ts';
export type { ArtifactContent } from './content/source.ts';

export { createGenerationContext, withGenerationContext, GenerationContext } from './generation/generation-context.ts';
export type { GenerationContextOptions, TempFileOptions, CleanupReport } from './generation/generation-context.ts';
export type {
  GeneratedArtifact, ImageArtifact, VideoArtifact, AudioArtifact, TextArtifact, ModelArtifact,
  ImageResult, VideoResult, AudioResult, TextResult, ModelResult, StoreResultOptions,
  ImageFormat, VideoFormat, AudioFormat, TextFormat, ModelFormat,
} from './generation/artifacts.ts';
export type { ResolvableInput } from './generation/resolve-artifact.ts';
export { safeFetch } from './generation/safe-fetch.ts';
export type { SafeResponse } from './generation/safe-fetch.ts';
export { parseGenerationConfig, resolveDownloadPolicy } from './generation/generation-config.ts';
export type { DownloadOptions, DownloadPolicy, GenerationConfig } from './generation/generation-config.ts';
export { classifyAddress } from './generation/address-guard.ts';
export type { AddressKind, AddressClass, HostResolver } from './generation/address-guard.ts';

export {
  StorageError, SecurityError, ValidationError, ConfigError, NotFoundError, AccessDeniedError,
  ProviderUnavailableError, InsufficientStorageError, CorruptionError, isStorageError,
} from './errors.ts';
export type { StorageErrorCode, StorageErrorOptions } from './errors.ts';

// The HTTP service is `boards-storage/server` (src/server/index.ts): the library loads none of it.
export { signWebhook, verifyWebhookSignature } from './webhooks/webhook-signature.ts';

export { resumeMigration, migrationStatus, listMigrations, finalizeMigration, rollbackMigration } from './operations/migrate.ts';
export type { MigrateOptions, MigrationJob, MigrationProgress, MigrationReport, MigrationStatus } from './operations/migrate.ts';
export type { BackupOptions, BackupManifest } from './operations/backup.ts';
export type { RestoreOptions, RestoreReport } from './operations/restore.ts';
export type { PointInTimeOptions, PointInTimeReport } from './operations/point-in-time.ts';
export type { VariantSummary } from './manager/artifact-reference.ts';
export type { BoardSummary, BoardCover, BoardPage, ListBoardsQuery, DeleteBoardResult } from './boards/board-list.ts';
export type { CopyBoardOptions, CopyBoardResult } from './boards/board-copy.ts';
export type { BoardArchive, BoardArchiveOptions, BoardArchiveManifest, BoardArchiveEntry } from './boards/board-archive.ts';
export { MAX_ARCHIVE_ENTRIES } from './boards/archive-limits.ts';
export type { MediaFacts } from './media/media-facts.ts';
export type { VariantSpecInput, VariantFit, VariantFormat } from './media/media-config.ts';
export type { VariantReport } from './media/variant-queue.ts';
export { startVariantTask } from './media/variant-queue.ts';
