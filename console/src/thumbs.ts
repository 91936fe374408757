import { thumbHashToDataURL } from 'thumbhash';
import type { Api, Artifact, Transform } from './api.ts';
import { kindOf } from './format.ts';

// Thumbnails: a stored variant (a preset such as thumb_256, or a video's poster) when there is
// one, else a 256 px transform of an image; signed in batches so that <img> needs no token.

const THUMB: Transform = { width: 256, format: 'webp' };

type Want = { variant: string } | { transform: Transform };

/** What a thumbnail is made from: an artifact, or a board's cover. */
export type ThumbSource = Pick<Artifact, 'storageKey' | 'contentType' | 'variants' | 'placeholder'>;

function wantedThumb(artifact: ThumbSource): Want | undefined {
  const images = (artifact.variants ?? []).filter((v) => v.contentType.startsWith('image/'));
  // The smallest variant that is still sharp in a 200 px cell.
  const fitting = images.filter((v) => (v.width ?? 0) >= 160).sort((a, b) => (a.width ?? 0) - (b.width ?? 0))[0] ?? images[0];
  if (fitting) return { variant: fitting.name };
  return kindOf(artifact.contentType) === 'image' ? { transform: THUMB } : undefined;
}

/** Signed thumbnail URLs by storage key, for the artifacts that have one. */
export async function signThumbs(api: Api, artifacts: ThumbSource[]): Promise<Map<string, string>> {
  const groups = new Map<string, { want: Want; keys: string[] }>();
  for (const artifact of artifacts) {
    const want = wantedThumb(artifact);
    if (!want) continue;
    const id = JSON.stringify(want);
    const group = groups.get(id) ?? { want, keys: [] };
    group.keys.push(artifact.storageKey);
    groups.set(id, group);
  }
  const urls = new Map<string, string>();
  await Promise.all([...groups.values()].map(async ({ want, keys }) => {
    const signed = await api.signedUrls(keys, { expiresIn: 3600, ...want }).catch(() => [] as string[]);
    signed.forEach((url, i) => urls.set(keys[i]!, url));
  }));
  return urls;
}

/** The ThumbHash placeholder as a data: URL, painted until the thumbnail arrives. */
export function placeholderUrl(artifact: Pick<Artifact, 'placeholder'>): string | undefined {
  if (!artifact.placeholder) return undefined;
  try {
    const bytes = Uint8Array.from(atob(artifact.placeholder), (c) => c.charCodeAt(0));
    return thumbHashToDataURL(bytes);
  } catch {
    return undefined;
  }
}
