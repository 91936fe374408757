import { ValidationError } from '../errors.ts';

/**
 * Characters a download file name may not contain: C0/C1 controls, quotes, slashes, backslashes,
 * and the Unicode bidirectional controls (U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069), with
 * which `invoice‮fdp.exe` displays as `invoiceexe.pdf` (extension spoofing).
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const REFUSED = /[\u0000-\u001f\u007f-\u009f"\\/\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** The name, when a browser may save a download under it; a ValidationError saying why not otherwise. */
export function checkDownloadName(filename: string): string {
  if (filename.length === 0 || filename.length > 255 || REFUSED.test(filename)) {
    throw new ValidationError('the download file name must be 1-255 characters without control characters, bidirectional text controls (such as U+202E), quotes, slashes or backslashes', { details: { field: 'filename' } });
  }
  return filename;
}
