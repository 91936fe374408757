import type { Readable } from 'node:stream';
import { ContentCheck } from '../content/verify-stream.ts';
import type { ExpectedContent } from '../content/verify-stream.ts';
import { CorruptionError } from '../errors.ts';
import { META, referenceMetadata } from '../manager/artifact-reference.ts';
import { ChecksumDigest } from '../providers/backend-checksum.ts';
import { capabilitiesOf } from '../providers/capabilities.ts';
import type { CatalogArtifact } from '../catalog/catalog.ts';
import type { StorageProvider, UploadResult } from '../providers/provider.ts';

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

/** How a copy was verified: by the checksum the destination computed, or by reading it back. */
export type CopyVerification = 'backend-checksum' | 'read-back';

/**
 * Copy one artifact from `source` to `target`, streaming: the source's bytes are checked against
 * the record on their way (a corrupt source fails the upload before its last byte, so nothing is
 * committed). The copy is then verified without a second transfer where the target's backend
 * reports a checksum of what it stored (S3's ETag): the same bytes are hashed as they go out and
 * the two must agree. Elsewhere (or when the backend answered no usable checksum) the copy is read
 * back and checked against the record. A mismatch either way is a CorruptionError. `onBytes`
 * counts the bytes as they are sent.
 */
export async function copyArtifactVerified(artifact: CatalogArtifact, source: { name: string; provider: StorageProvider }, target: { name: string; provider: StorageProvider }, onBytes?: (n: number) => void): Promise<CopyVerification> {
  const expected = { storageKey: artifact.storageKey, sha256: artifact.sha256, size: artifact.size };
  const plan = capabilitiesOf(target.provider).uploadChecksum;
  const digest = plan ? new ChecksumDigest(plan, artifact.size) : undefined;
  const stream = await source.provider.openDownload(artifact.storageKey);
  const metadata = { ...referenceMetadata(artifact), [META.sha256]: artifact.sha256, [META.size]: String(artifact.size) };
  let result: UploadResult;
  try {
    result = await target.provider.upload(artifact.storageKey, outgoing(stream, new ContentCheck({ ...expected, provider: source.name }), digest, onBytes), { contentType: artifact.contentType, size: artifact.size, metadata, sha256: artifact.sha256 });
  } finally {
    // Closes the source also when the upload failed before reading it through.
    stream.destroy();
  }
  const verdict = digest && result.backendChecksum ? digest.compare(result.backendChecksum) : 'unknown';
  if (verdict === 'match') return 'backend-checksum';
  if (verdict === 'mismatch') {
    const { algorithm, value } = result.backendChecksum!;
    throw new CorruptionError(`${artifact.storageKey} on ${target.name}: the backend's checksum of the copy (${algorithm} ${value}) is not that of the bytes sent, whose SHA-256 matched the record; the copy is corrupt and is not used (migrate resume tries it again)`, {
      details: { storageKey: artifact.storageKey, provider: target.name, backendChecksum: result.backendChecksum },
    });
  }
  await readBack(target.provider, { ...expected, provider: target.name });
  return 'read-back';
}

/**
 * The source's chunks on their way out: checked against the record (SHA-256 and size), hashed for
 * the backend's checksum and counted. The last chunk is held back until the record's SHA-256 has
 * matched, so a corrupt source fails the upload before its end and nothing is committed. (A
 * generator rather than verifyStream's Transform: about 0.3 ms less CPU per small artifact.)
 */
async function* outgoing(stream: Readable, check: ContentCheck, digest: ChecksumDigest | undefined, onBytes: ((n: number) => void) | undefined): AsyncGenerator<Uint8Array> {
  let held: Buffer | undefined;
  const send = (chunk: Buffer) => {
    digest?.update(chunk);
    onBytes?.(chunk.length);
    return chunk;
  };
  for await (const chunk of stream) {
    check.update(chunk as Buffer);
    if (held) yield send(held);
    held = chunk as Buffer;
  }
  const error = check.finish();
  if (error) throw error;
  if (held) yield send(held);
}
