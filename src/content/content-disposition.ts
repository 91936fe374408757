import { create } from 'content-disposition';

/**
 * `attachment` with the file name, for the service's own responses and for the headers S3 and GCS
 * are asked to send on signed downloads: RFC 6266 through jshttp's content-disposition (which
 * encodes `filename*` per RFC 8187, where encodeURIComponent leaves `'()*` raw). The plain
 * `filename` fallback is printable ASCII with anything else, quotes and backslashes as `_`.
 */
export function attachmentDisposition(filename: string): string {
  return create(filename, { type: 'attachment', fallback: filename.replace(/[^\x20-\x7e]|["\\%]/g, '_') });
}
