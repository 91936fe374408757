import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import type { BackendChecksum, UploadChecksumPlan } from './provider.ts';

/**
 * The checksum a backend will report for content of `size` bytes, computed by the sender over the
 * bytes as they go out, to compare with the upload's `backendChecksum`. MD5 here is a check against
 * bytes changed on the way or at rest, not against an adversary (the SHA-256 checked on the same
 * bytes is what ties them to the catalog). Memory: one hash state and the part digests (16 bytes each).
 */
export class ChecksumDigest {
  private readonly partSize: number | undefined;
  private hash: Hash = createHash('md5');
  private inPart = 0;
  private readonly partDigests: Buffer[] = [];
  private final: string | undefined;

  constructor(plan: UploadChecksumPlan, size: number) {
    // Content up to partSize goes in one request, whose checksum is the whole object's MD5.
    this.partSize = plan.partSize !== undefined && size > plan.partSize ? plan.partSize : undefined;
  }

  update(chunk: Uint8Array): void {
    if (this.partSize === undefined) {
      this.hash.update(chunk);
      return;
    }
    for (let offset = 0; offset < chunk.length;) {
      const taken = Math.min(chunk.length - offset, this.partSize - this.inPart);
      this.hash.update(offset === 0 && taken === chunk.length ? chunk : chunk.subarray(offset, offset + taken));
      offset += taken;
      this.inPart += taken;
      if (this.inPart === this.partSize) this.endPart();
    }
  }

  /**
   * After the last byte: whether `reported` is the checksum of the bytes sent. `unknown` when it is
   * of another form than the one computed (the backend stored the object another way), so the
   * caller verifies by reading the copy back.
   */
  compare(reported: BackendChecksum): 'match' | 'mismatch' | 'unknown' {
    const expected = this.result();
    if (reported.algorithm !== expected.algorithm) return 'unknown';
    if (expected.algorithm === 'md5-of-parts' && (reported.partSize !== expected.partSize || reported.parts !== expected.parts)) return 'unknown';
    return reported.value.toLowerCase() === expected.value ? 'match' : 'mismatch';
  }

  private result(): BackendChecksum {
    if (this.partSize === undefined) return { algorithm: 'md5', value: (this.final ??= this.hash.digest('hex')) };
    if (this.final === undefined) {
      if (this.inPart > 0) this.endPart();
      this.final = createHash('md5').update(Buffer.concat(this.partDigests)).digest('hex');
    }
    return { algorithm: 'md5-of-parts', value: this.final, partSize: this.partSize, parts: this.partDigests.length };
  }

  private endPart(): void {
    this.partDigests.push(this.hash.digest());
    this.hash = createHash('md5');
    this.inPart = 0;
  }
}

/**
 * A multipart upload's checksum from its parts' ETags (each the MD5 of that part, as the backend
 * received it): what CompleteMultipartUpload's ETag would be. For servers that answer that one
 * empty (Ceph RGW 16.2 does).
 */
export function checksumFromPartEtags(partEtags: string[], partSize: number): BackendChecksum | undefined {
  const digests: Buffer[] = [];
  for (const etag of partEtags) {
    const part = checksumFromEtag(etag, partSize);
    if (part?.algorithm !== 'md5') return undefined;
    digests.push(Buffer.from(part.value, 'hex'));
  }
  if (digests.length === 0) return undefined;
  return { algorithm: 'md5-of-parts', value: createHash('md5').update(Buffer.concat(digests)).digest('hex'), partSize, parts: digests.length };
}

/**
 * S3's ETag as a backend checksum: 32 hex digits are the MD5 of a single PUT's body; `hex-N` is a
 * multipart upload's MD5 of its N parts' MD5s. Anything else (an SSE-KMS object's opaque ETag on
 * a server that says so by its form) is no checksum.
 */
export function checksumFromEtag(etag: string | undefined, partSize: number): BackendChecksum | undefined {
  const match = /^"?([0-9a-fA-F]{32})(?:-(\d+))?"?$/.exec(etag ?? '');
  if (!match) return undefined;
  const value = match[1]!.toLowerCase();
  return match[2] === undefined ? { algorithm: 'md5', value } : { algorithm: 'md5-of-parts', value, partSize, parts: Number(match[2]) };
}

/**
 * GCS's `md5Hash` (base64 of the 16-byte MD5 of the object's bytes) as a backend checksum. A
 * composite object has none, so neither does an absent or malformed value.
 */
export function checksumFromMd5Hash(md5Hash: string | undefined): BackendChecksum | undefined {
  if (md5Hash === undefined || !/^[A-Za-z0-9+/]{22}==$/.test(md5Hash)) return undefined;
  return { algorithm: 'md5', value: Buffer.from(md5Hash, 'base64').toString('hex') };
}
