import type { Readable } from 'node:stream';
import { ContentCheck, verifyStream } from '../content/verify-stream.ts';
import type { ExpectedContent } from '../content/verify-stream.ts';
import { META, referenceMetadata } from '../manager/artifact-reference.ts';
import type { CatalogArtifact } from '../catalog/catalog.ts';
import type { StorageProvider } from '../providers/provider.ts';

/**
 * Read a stored object through to the end, checking its bytes against the recorded SHA-256 and
 * size; throws a CorruptionError when they differ. Memory stays at one chunk.
 */
export async function readBack(provider: StorageProvider, expected: ExpectedContent): Promise<void> {
  const check = new ContentCheck(expected);
  for await (const chunk of await provider.openDownload(expected.storageKey)) check.update(chunk as Buffer);
  const error = check.finish();
  if (error) throw error;
}

/**
 * Copy one artifact from `source` to `target`, streaming: the source's bytes are checked against
 * the record on their way (a corrupt source fails the upload before its last byte, so nothing is
 * committed), then the target's copy is read back and checked the same way. `onBytes` counts the
 * bytes as they are sent.
 */
export async function copyArtifactVerified(artifact: CatalogArtifact, source: { name: string; provider: StorageProvider }, target: { name: string; provider: StorageProvider }, onBytes?: (n: number) => void): Promise<void> {
  const stream = await source.provider.openDownload(artifact.storageKey);
  const checked = verifyStream(stream, new ContentCheck({ storageKey: artifact.storageKey, provider: source.name, sha256: artifact.sha256, size: artifact.size }));
  const metadata = { ...referenceMetadata(artifact), [META.sha256]: artifact.sha256, [META.size]: String(artifact.size) };
  await target.provider.upload(artifact.storageKey, onBytes ? counted(checked, onBytes) : checked, { contentType: artifact.contentType, size: artifact.size, metadata });
  await readBack(target.provider, { storageKey: artifact.storageKey, provider: target.name, sha256: artifact.sha256, size: artifact.size });
}

async function* counted(stream: Readable, onBytes: (n: number) => void): AsyncGenerator<Uint8Array> {
  for await (const chunk of stream) {
    onBytes((chunk as Buffer).length);
    yield chunk as Buffer;
  }
}
