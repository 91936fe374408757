import { ValidationError } from '../errors.ts';
import type { MediaConfig } from './media-config.ts';
import type { MediaFacts } from './media-facts.ts';
import { MEDIA_FACT_FIELDS } from './media-facts.ts';
import { createMediaTap } from './media-tap.ts';
import type { MediaTap } from './media-tap.ts';

/** A fact the caller gave that the bytes contradict. */
export interface FactCorrection {
  field: string;
  given: unknown;
  measured: unknown;
}

/** Durations measured by different tools differ a little; more than this is a disagreement. */
const DURATION_TOLERANCE_MS = 100;

/**
 * The media analysis of one store: `wrap` taps the validated content (a fresh tap per attempt, so
 * a retried upload is analysed once more from its start); when the content ends, the facts are
 * compared with what the caller said (in `media` or in the metadata), and the store is refused
 * (422 MEDIA_MISMATCH, before the provider commits, so nothing is kept) or the caller's values
 * are corrected, as `media.caller_facts` says.
 */
export class StoreAnalysis {
  facts: MediaFacts | undefined;
  corrections: FactCorrection[] = [];
  private tap: MediaTap | undefined;
  private readonly contentType: string;
  private readonly config: MediaConfig;
  private readonly claimed: Partial<MediaFacts>;

  private constructor(contentType: string, config: MediaConfig, claimed: Partial<MediaFacts>) {
    this.contentType = contentType;
    this.config = config;
    this.claimed = claimed;
  }

  /** Undefined when the content has no media facts to read (or analysis is off). */
  static for(contentType: string, config: MediaConfig, given: { media?: Partial<MediaFacts>; metadata: Record<string, unknown> }): StoreAnalysis | undefined {
    if (!config.media.analyze) return undefined;
    const probe = createMediaTap(contentType, tapOptions(config));
    if (!probe) return undefined;
    probe.abort();
    const claimed: Partial<MediaFacts> = {};
    for (const field of MEDIA_FACT_FIELDS) {
      const value = given.media?.[field] ?? given.metadata[field];
      if (value !== undefined) (claimed as Record<string, unknown>)[field] = value;
    }
    return new StoreAnalysis(contentType, config, claimed);
  }

  async *wrap(content: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    this.tap?.abort();
    const tap = createMediaTap(this.contentType, tapOptions(this.config))!;
    this.tap = tap;
    this.facts = undefined;
    this.corrections = [];
    try {
      for await (const chunk of content) {
        const waiting = tap.observe(chunk);
        if (waiting) await waiting;
        yield chunk;
      }
    } catch (error) {
      tap.abort();
      throw error;
    }
    this.facts = await tap.finish();
    this.corrections = disagreements(this.claimed, this.facts);
    if (this.corrections.length > 0 && this.config.media.caller_facts === 'refuse') {
      tap.abort();
      const list = this.corrections.map((c) => `${c.field}: given ${JSON.stringify(c.given)}, the bytes say ${JSON.stringify(c.measured)}`).join('; ');
      throw new ValidationError(`the media facts given disagree with the content (${list}); leave them out or send the right ones`, { code: 'MEDIA_MISMATCH', details: { corrections: this.corrections } });
    }
  }

  /** The image placeholder, once the content has ended. */
  async placeholder(): Promise<string | undefined> {
    return this.tap?.placeholder();
  }

  /** The caller's metadata with every contradicted fact replaced by what the bytes say. */
  correctMetadata(metadata: Record<string, unknown>): Record<string, unknown> {
    const fixes = this.corrections.filter((c) => c.field in metadata);
    if (fixes.length === 0) return metadata;
    return { ...metadata, ...Object.fromEntries(fixes.map((c) => [c.field, c.measured])) };
  }
}

/**
 * Metadata changed after the store (PATCH), held to what the bytes said at store time: a media
 * fact in it that `facts` contradict is corrected, or refused (422 MEDIA_MISMATCH), as
 * `media.caller_facts` says.
 */
export function checkMetadataFacts(metadata: Record<string, unknown>, facts: MediaFacts | undefined, policy: 'correct' | 'refuse'): Record<string, unknown> {
  const claimed = Object.fromEntries(MEDIA_FACT_FIELDS.filter((f) => metadata[f] !== undefined).map((f) => [f, metadata[f]])) as Partial<MediaFacts>;
  const fixes = disagreements(claimed, facts);
  if (fixes.length === 0) return metadata;
  if (policy === 'refuse') {
    const list = fixes.map((c) => `${c.field}: given ${JSON.stringify(c.given)}, the bytes say ${JSON.stringify(c.measured)}`).join('; ');
    throw new ValidationError(`the metadata disagrees with the content (${list}); leave those keys out or send the right values`, { code: 'MEDIA_MISMATCH', details: { corrections: fixes } });
  }
  return { ...metadata, ...Object.fromEntries(fixes.map((c) => [c.field, c.measured])) };
}

function tapOptions(config: MediaConfig) {
  return { analysisMaxBytes: config.media.analysis_max_bytes, placeholder: config.media.placeholder, maxPixels: config.transforms.max_pixels, maxFrames: config.transforms.max_frames };
}

function disagreements(claimed: Partial<MediaFacts>, measured: MediaFacts | undefined): FactCorrection[] {
  if (!measured) return [];
  const out: FactCorrection[] = [];
  for (const field of MEDIA_FACT_FIELDS) {
    const given = claimed[field];
    const actual = measured[field];
    if (given === undefined || actual === undefined) continue;
    if (!agrees(field, given, actual)) out.push({ field, given, measured: actual });
  }
  return out;
}

function agrees(field: string, given: unknown, actual: unknown): boolean {
  if (field === 'durationMs') return typeof given === 'number' && Math.abs(given - (actual as number)) <= DURATION_TOLERANCE_MS;
  if (typeof actual === 'string') return typeof given === 'string' && given.toLowerCase() === actual.toLowerCase();
  return given === actual;
}
