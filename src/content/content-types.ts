/** The content types accepted when the configuration names none. */
export const DEFAULT_ALLOWED_CONTENT_TYPES: readonly string[] = [
  'image/jpeg', 'image/png', 'image/webp', 'image/gif',
  'video/mp4', 'video/webm', 'video/quicktime',
  'audio/mpeg', 'audio/wav', 'audio/ogg',
  'text/plain', 'application/json', 'text/markdown',
  'application/octet-stream',
];

const EXTENSIONS: Record<string, string> = {
  'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp', 'image/gif': 'gif', 'image/avif': 'avif',
  'video/mp4': 'mp4', 'video/webm': 'webm', 'video/quicktime': 'mov',
  'audio/mpeg': 'mp3', 'audio/wav': 'wav', 'audio/ogg': 'ogg', 'audio/flac': 'flac',
  'text/plain': 'txt', 'application/json': 'json', 'text/markdown': 'md',
  'application/octet-stream': 'bin',
};

const BY_EXTENSION: Record<string, string> = {
  ...Object.fromEntries(Object.entries(EXTENSIONS).map(([type, ext]) => [ext, type])),
  jpeg: 'image/jpeg', markdown: 'text/markdown', wave: 'audio/wav', oga: 'audio/ogg', opus: 'audio/ogg',
  safetensors: 'application/octet-stream', ckpt: 'application/octet-stream', pt: 'application/octet-stream',
  pth: 'application/octet-stream', gguf: 'application/octet-stream', onnx: 'application/octet-stream',
};

/**
 * Other names in common use for the types above (what Python's `mimetypes`, `file --mime-type`,
 * browsers and older tools print), and the one each is recorded as. The one alias table: the
 * manager, the routing rules and the generation context all compare canonical types.
 */
const ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg', 'image/pjpeg': 'image/jpeg', 'image/x-png': 'image/png', 'image/x-webp': 'image/webp',
  'audio/x-wav': 'audio/wav', 'audio/wave': 'audio/wav', 'audio/vnd.wave': 'audio/wav', 'audio/x-pn-wav': 'audio/wav',
  'audio/mp3': 'audio/mpeg', 'audio/x-mp3': 'audio/mpeg', 'audio/mpeg3': 'audio/mpeg', 'audio/x-mpeg-3': 'audio/mpeg', 'audio/x-mpeg': 'audio/mpeg',
  'audio/x-flac': 'audio/flac', 'audio/x-ogg': 'audio/ogg', 'audio/vorbis': 'audio/ogg',
  'video/x-quicktime': 'video/quicktime', 'video/x-webm': 'video/webm',
  'text/x-markdown': 'text/markdown', 'text/json': 'application/json', 'application/x-json': 'application/json',
};

/** `image/png; charset=x` -> `image/png` */
export function normalizeContentType(contentType: string): string {
  return contentType.split(';', 1)[0]!.trim().toLowerCase();
}

/** The normalized type under its canonical name: `audio/x-wav` -> `audio/wav`, `image/jpg` -> `image/jpeg`. */
export function canonicalContentType(contentType: string): string {
  const type = normalizeContentType(contentType);
  return ALIASES[type] ?? type;
}

export function extensionForContentType(contentType: string): string {
  const type = normalizeContentType(contentType);
  return EXTENSIONS[type] ?? (/^[a-z0-9]+\/(?:x-)?([a-z0-9]{1,8})$/.exec(type)?.[1] ?? 'bin');
}

/** The content type a file name suggests, for the CLI; undefined when the extension is unknown. */
export function contentTypeForFileName(fileName: string): string | undefined {
  const ext = /\.([A-Za-z0-9]+)$/.exec(fileName)?.[1]?.toLowerCase();
  return ext === undefined ? undefined : BY_EXTENSION[ext];
}

/** `image/*` matches every image type; `*` or `*\/*` matches everything. */
export function contentTypeMatches(pattern: string, contentType: string): boolean {
  const p = pattern.trim().toLowerCase();
  const type = normalizeContentType(contentType);
  if (p === '*' || p === '*/*') return true;
  if (p.endsWith('/*')) return type.startsWith(p.slice(0, -1));
  return p === type;
}

export function isContentTypeAllowed(allowed: readonly string[], contentType: string): boolean {
  return allowed.some((pattern) => contentTypeMatches(pattern, contentType));
}

/** Well-formed `type/subtype` (parameters allowed), the shape HTTP requires. */
export function isWellFormedContentType(contentType: string): boolean {
  return /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(normalizeContentType(contentType));
}

/** Types whose bytes must be UTF-8 text. */
export function isTextContentType(contentType: string): boolean {
  const type = normalizeContentType(contentType);
  return type.startsWith('text/') || type === 'application/json' || type.endsWith('+json') || type === 'application/x-ndjson';
}

export function isJsonContentType(contentType: string): boolean {
  const type = normalizeContentType(contentType);
  return type === 'application/json' || type.endsWith('+json');
}
