import { createHash } from 'node:crypto';
import { CorruptionError } from '../errors.ts';
import type { StorageProvider } from '../providers/provider.ts';
import type { CatalogArtifact } from '../catalog/catalog.ts';

/**
 * Copy an artifact's bytes from one provider to another, streaming, with its content type and
 * metadata; the copy's SHA-256 must match the recorded one, or the copy is deleted and a
 * CorruptionError thrown.
 */
/** What a copy needs: the providers by name (a StorageManager is one). */
export interface ProviderLookup {
  provider(name: string): StorageProvider;
}

export async function copyVerified(storage: ProviderLookup, artifact: CatalogArtifact, from: string, to: string): Promise<void> {
  const source = storage.provider(from);
  const target = storage.provider(to);
  const { metadata } = await source.getMetadata(artifact.storageKey);
  const hash = createHash('sha256');
  const stream = await source.openDownload(artifact.storageKey);
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      yield chunk as Buffer;
    }
  }
  await target.upload(artifact.storageKey, hashed(), { contentType: artifact.contentType, size: artifact.size, metadata: { ...metadata } });
  const sha256 = hash.digest('hex');
  if (artifact.sha256 && sha256 !== artifact.sha256) {
    await target.delete(artifact.storageKey).catch(() => undefined);
    throw new CorruptionError(`${artifact.storageKey}: the bytes read from ${from} do not match the recorded SHA-256; nothing was copied to ${to}`);
  }
}
