// How the console shows sizes, times and kinds of content.

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDate(iso: string | undefined): string {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export type Kind = 'image' | 'video' | 'audio' | 'json' | 'markdown' | 'text' | 'model';

/** What the preview does with a content type. */
export function kindOf(contentType: string): Kind {
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('video/')) return 'video';
  if (type.startsWith('audio/')) return 'audio';
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  if (type === 'text/markdown') return 'markdown';
  if (type.startsWith('text/')) return 'text';
  return 'model';
}

const BY_EXTENSION: Record<string, string> = {
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif', avif: 'image/avif',
  mp4: 'video/mp4', webm: 'video/webm', mov: 'video/quicktime',
  mp3: 'audio/mpeg', wav: 'audio/wav', ogg: 'audio/ogg', flac: 'audio/flac',
  txt: 'text/plain', md: 'text/markdown', markdown: 'text/markdown', json: 'application/json',
};

/** The content type to store a dropped file as: the browser's, else its extension's, else bytes. */
export function contentTypeOf(file: File): string {
  if (file.type) return file.type;
  const ext = /\.([A-Za-z0-9]+)$/.exec(file.name)?.[1]?.toLowerCase() ?? '';
  return BY_EXTENSION[ext] ?? 'application/octet-stream';
}

/** The artifact type a content type suggests; weights and anything else are `model`. */
export function artifactTypeFor(contentType: string): string {
  const kind = kindOf(contentType);
  return kind === 'json' || kind === 'markdown' ? 'text' : kind;
}

/** An artifact id from a file name: the service refuses ids outside [A-Za-z0-9._-], so others become '-'. */
export function artifactIdFor(fileName: string): string {
  const stem = fileName.replace(/\.[A-Za-z0-9]+$/, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+|-+$/g, '').slice(0, 100);
  return stem === '' || stem === '.' || stem === '..' ? 'upload' : stem;
}
