import { ValidationError } from '../errors.ts';
import { isTextContentType, normalizeContentType } from './content-types.ts';

/** What kind of content an artifact type holds; `any` checks nothing. */
export const ARTIFACT_FAMILIES = ['image', 'video', 'audio', 'text', 'model', 'any'] as const;
export type ArtifactFamily = typeof ARTIFACT_FAMILIES[number];

/**
 * The artifact types accepted when the configuration names none (`artifact_types`): what the
 * generators produce, with the names of model files kept as model types. `temp` is the manager's
 * own, for job intermediates, and needs no entry.
 */
export const DEFAULT_ARTIFACT_TYPES: Readonly<Record<string, ArtifactFamily>> = {
  image: 'image', video: 'video', audio: 'audio', text: 'text',
  model: 'model', lora: 'model', checkpoint: 'model', weights: 'model',
};

/** Whether `contentType` (canonical) is content of `family`. */
export function isInFamily(family: ArtifactFamily, contentType: string): boolean {
  const type = normalizeContentType(contentType);
  switch (family) {
    case 'image': case 'video': case 'audio': return type.startsWith(`${family}/`);
    case 'text': return isTextContentType(type);
    // Weights, LoRAs and checkpoints have no registered media types: octet-stream or a binary application/* type.
    case 'model': return type.startsWith('application/') && !isTextContentType(type);
    case 'any': return true;
  }
}

const FAMILY_TYPES: Record<ArtifactFamily, string> = {
  image: 'image/*', video: 'video/*', audio: 'audio/*', text: 'text/*, application/json or another text type',
  model: 'application/octet-stream or another binary application/* type', any: 'anything',
};

/**
 * Refuse an artifact type the configuration does not list, and content of another family than
 * the type holds (an `image` whose content type is `audio/wav`). Both are the caller's mistake: 400.
 */
export function assertArtifactType(types: Readonly<Record<string, ArtifactFamily>>, artifactType: string, contentType: string): void {
  const family = Object.hasOwn(types, artifactType) ? types[artifactType] : undefined;
  if (family === undefined) {
    throw new ValidationError(`artifactType "${artifactType}" is not one of the configured artifact types (${Object.keys(types).join(', ')}); use one of them, or add it to artifact_types in the configuration`, { details: { field: 'artifactType', allowed: Object.keys(types) } });
  }
  if (!isInFamily(family, contentType)) {
    throw new ValidationError(`artifactType "${artifactType}" holds ${FAMILY_TYPES[family]}, not ${normalizeContentType(contentType)}; choose the artifact type that fits the content (${suggest(types, contentType)})`, { details: { field: 'artifactType', family, contentType } });
  }
}

function suggest(types: Readonly<Record<string, ArtifactFamily>>, contentType: string): string {
  const fitting = Object.entries(types).filter(([, family]) => family !== 'any' && isInFamily(family, contentType)).map(([name]) => name);
  return fitting.length > 0 ? `for ${normalizeContentType(contentType)}: ${fitting.join(', ')}` : 'none of the configured types holds it';
}
