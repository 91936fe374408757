import type { FileTypeParser } from 'file-type';
import { ValidationError } from '../errors.ts';
import { normalizeContentType } from './content-types.ts';

/** How many leading bytes the sniffer looks at (file-type's own recommendation). */
export const SNIFF_BYTES = 4100;

/**
 * What the sniffed signature may be for each declared type. The container families are broad on
 * purpose: an MP4 may carry any ISO-BMFF brand, a WAV may be announced under any of its names.
 */
const ACCEPTED_SIGNATURES: Record<string, readonly string[]> = {
  'image/jpeg': ['image/jpeg'],
  'image/png': ['image/png', 'image/apng'],
  'image/webp': ['image/webp'],
  'image/gif': ['image/gif'],
  'video/mp4': ['video/mp4', 'video/x-m4v', 'video/3gpp', 'video/3gpp2', 'audio/mp4', 'audio/x-m4a', 'video/quicktime'],
  'video/quicktime': ['video/quicktime', 'video/mp4'],
  'video/webm': ['video/webm', 'audio/webm'],
  'audio/mpeg': ['audio/mpeg'],
  'audio/wav': ['audio/wav', 'audio/vnd.wave', 'audio/x-wav'],
  'audio/ogg': ['audio/ogg', 'audio/ogg; codecs=opus', 'audio/opus', 'application/ogg', 'video/ogg'],
};

// file-type is loaded on first use: a process that stores only weights, text or JSON never needs it.
let fileType: Promise<{ parser: FileTypeParser; supported: ReadonlySet<string> }> | undefined;
function loadFileType() {
  fileType ??= import('file-type').then((m) => ({ parser: new m.FileTypeParser(), supported: m.supportedMimeTypes as ReadonlySet<string> }));
  return fileType;
}

/** Media types file-type can recognise but the table above does not list: their signature must match exactly. */
function mayHaveSignature(type: string): boolean {
  return type.startsWith('image/') || type.startsWith('video/') || type.startsWith('audio/') || type === 'application/pdf';
}

/**
 * Check the first bytes of an artifact against its declared type. Executables are refused whatever
 * the declared type; media types must carry their own signature.
 */
export async function assertSignatureMatches(head: Uint8Array, declaredType: string): Promise<void> {
  const executable = detectExecutable(head);
  if (executable) {
    throw new ValidationError(`the content is a ${executable} executable; executables are never stored`, { code: 'CONTENT_MISMATCH', details: { detected: executable } });
  }
  const declared = normalizeContentType(declaredType);
  let accepted = ACCEPTED_SIGNATURES[declared];
  if (!accepted && !mayHaveSignature(declared)) return; // text, JSON, model weights: no signature to check
  const { parser, supported } = await loadFileType();
  accepted ??= supported.has(declared) ? [declared] : undefined;
  if (!accepted) return; // a media type file-type does not know
  const detected = await parser.fromBuffer(head);
  if (head.length === 0) {
    throw new ValidationError(`the body is empty (0 bytes), but a ${declared} artifact needs its bytes; send the file's content (curl's --data-binary @FILE sends nothing when FILE does not exist)`, { code: 'CONTENT_MISMATCH', details: { declared, size: 0 } });
  }
  if (!detected || !accepted.includes(detected.mime)) {
    const what = detected ? `looks like ${detected.mime}` : 'carries no recognisable signature';
    throw new ValidationError(`the content was declared as ${declared} but ${what}`, { code: 'CONTENT_MISMATCH', details: { declared, detected: detected?.mime } });
  }
}

/** PE, ELF or Mach-O, told by their headers; undefined for anything else. */
export function detectExecutable(head: Uint8Array): string | undefined {
  if (head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46) return 'ELF';
  if (head.length >= 4) {
    const magic = ((head[0]! << 24) | (head[1]! << 16) | (head[2]! << 8) | head[3]!) >>> 0;
    if (magic === 0xfeedface || magic === 0xfeedfacf || magic === 0xcefaedfe || magic === 0xcffaedfe) return 'Mach-O';
    // Universal binaries share 0xCAFEBABE with Java classes; a small architecture count tells them apart.
    if (magic === 0xcafebabe && head.length >= 8) {
      const count = ((head[4]! << 24) | (head[5]! << 16) | (head[6]! << 8) | head[7]!) >>> 0;
      if (count > 0 && count < 30) return 'Mach-O';
    }
  }
  if (head.length >= 0x40 && head[0] === 0x4d && head[1] === 0x5a) {
    // "MZ" alone is too weak (text can start with it): require the PE header it points to.
    const peOffset = head[0x3c]! | (head[0x3d]! << 8) | (head[0x3e]! << 16) | (head[0x3f]! << 24);
    if (peOffset > 0 && peOffset + 4 <= head.length
      && head[peOffset] === 0x50 && head[peOffset + 1] === 0x45 && head[peOffset + 2] === 0 && head[peOffset + 3] === 0) {
      return 'PE';
    }
  }
  return undefined;
}
