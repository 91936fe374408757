import type { StorageProvider } from '../providers/provider.ts';
import type { CatalogArtifact } from '../catalog/catalog.ts';
import { ContentCheck, verifyStream } from '../content/verify-stream.ts';

/** What a copy needs: the providers by name (a StorageManager is one). */
export interface ProviderLookup {
  provider(name: string): StorageProvider;
}

/**
 * Copy an artifact's bytes from one provider to another, streaming, with its content type and
 * metadata. The bytes are checked against the recorded SHA-256 and size on their way: a corrupt
 * source fails the upload before its last byte (a CorruptionError), so the target never commits
 * them and an object already there (a copy being repaired) stays as it was.
 */
export async function copyVerified(storage: ProviderLookup, artifact: CatalogArtifact, from: string, to: string): Promise<void> {
  const source = storage.provider(from);
  const target = storage.provider(to);
  const { metadata } = await source.getMetadata(artifact.storageKey);
  const stream = await source.openDownload(artifact.storageKey);
  const content = artifact.sha256 ? verifyStream(stream, new ContentCheck({ storageKey: artifact.storageKey, provider: from, sha256: artifact.sha256, size: artifact.size })) : stream;
  await target.upload(artifact.storageKey, content, { contentType: artifact.contentType, size: artifact.size, metadata: { ...metadata } });
}
