/** Fitting object metadata into a backend's size limit. */

/** Dropped last: what the catalog needs to verify the bytes. */
const KEPT_LONGEST = new Set(['sha256', 'size']);

/**
 * `entries` without its largest entries (sha256 and size last) until the names and values together
 * take at most `maxBytes`: a store never fails because of its metadata; the catalog keeps all of it.
 */
export function fitEntries(entries: [string, string][], maxBytes: number): [string, string][] {
  const kept = [...entries];
  const bytes = ([name, value]: [string, string]) => Buffer.byteLength(name) + Buffer.byteLength(value);
  let total = kept.reduce((sum, entry) => sum + bytes(entry), 0);
  while (total > maxBytes && kept.length > 0) {
    let drop = 0;
    for (let i = 1; i < kept.length; i++) {
      const keepCandidate = KEPT_LONGEST.has(kept[i]![0]);
      const keepCurrent = KEPT_LONGEST.has(kept[drop]![0]);
      if ((keepCurrent && !keepCandidate) || (keepCurrent === keepCandidate && bytes(kept[i]!) > bytes(kept[drop]!))) drop = i;
    }
    total -= bytes(kept[drop]!);
    kept.splice(drop, 1);
  }
  return kept;
}

/** `metadata` fitted into `maxBytes` (see fitEntries). */
export function fitMetadata(metadata: Record<string, string>, maxBytes: number): Record<string, string> {
  return Object.fromEntries(fitEntries(Object.entries(metadata).map(([name, value]) => [name, String(value)]), maxBytes));
}
