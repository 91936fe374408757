import type { ArtifactReference } from '../manager/artifact-reference.ts';
import type { ArtifactContent } from '../content/source.ts';

export type ImageFormat = 'png' | 'jpeg' | 'jpg' | 'webp' | 'gif' | 'avif';
export type VideoFormat = 'mp4' | 'webm' | 'mov';
export type AudioFormat = 'mp3' | 'wav' | 'ogg' | 'flac';
export type TextFormat = 'text' | 'markdown' | 'json';
export type ModelFormat = 'safetensors' | 'ckpt' | 'pt' | 'pth' | 'bin' | 'gguf' | 'onnx';

/** What every stored generation result carries: the manager's reference plus the ids of its generation. */
export interface GeneratedArtifact extends ArtifactReference {
  generationId: string;
  jobId: string;
}

export interface ImageArtifact extends GeneratedArtifact {
  artifactType: 'image';
  format: ImageFormat;
  width: number;
  height: number;
}

export interface VideoArtifact extends GeneratedArtifact {
  artifactType: 'video';
  format: VideoFormat;
  width: number;
  height: number;
  /** Seconds. */
  duration: number;
  fps: number;
}

export interface AudioArtifact extends GeneratedArtifact {
  artifactType: 'audio';
  format: AudioFormat;
  /** Seconds. */
  duration: number;
  sampleRate?: number;
  channels?: number;
}

export interface TextArtifact extends GeneratedArtifact {
  artifactType: 'text';
  format: TextFormat;
}

/** LoRA weights, checkpoints, any trained model file. */
export interface ModelArtifact extends GeneratedArtifact {
  artifactType: 'model';
  format: ModelFormat;
}

/** Per-call options shared by every store method. */
export interface StoreResultOptions {
  /** Defaults to `original` plus the format's extension. */
  variant?: string;
  /** Merged over the context's metadata; the media fields are added to it. */
  metadata?: Record<string, unknown>;
  /**
   * Lineage: storage keys of more artifacts this result was made from. Those the context resolved
   * (resolveArtifact) are recorded as inputs without being named here.
   */
  inputs?: string[];
}

export interface ImageResult extends StoreResultOptions {
  /** The provider's (temporary) result URL. */
  storageUrl: string;
  format: ImageFormat;
  width: number;
  height: number;
}

export interface VideoResult extends StoreResultOptions {
  storageUrl: string;
  format: VideoFormat;
  width: number;
  height: number;
  duration: number;
  fps: number;
}

export interface AudioResult extends StoreResultOptions {
  storageUrl: string;
  format: AudioFormat;
  duration: number;
  sampleRate?: number;
  channels?: number;
}

export interface TextResult extends StoreResultOptions {
  content: string;
  format: TextFormat;
}

export type ModelResult = StoreResultOptions & { format: ModelFormat } & (
  | { storageUrl: string; content?: never }
  | { content: ArtifactContent; storageUrl?: never }
);

interface FormatInfo {
  contentType: string;
  extension: string;
  /**
   * Content-Type headers a provider may send for this format besides the generic binary ones,
   * by canonical name (aliases such as `image/jpg` are resolved first). `type/*` patterns allowed.
   */
  accepts: readonly string[];
}

/** Format -> the content type it is stored as, its file extension, and what a response may call it. */
export const FORMATS: Record<ImageFormat | VideoFormat | AudioFormat | TextFormat | ModelFormat, FormatInfo> = {
  png: { contentType: 'image/png', extension: 'png', accepts: ['image/png', 'image/apng'] },
  jpeg: { contentType: 'image/jpeg', extension: 'jpg', accepts: ['image/jpeg'] },
  jpg: { contentType: 'image/jpeg', extension: 'jpg', accepts: ['image/jpeg'] },
  webp: { contentType: 'image/webp', extension: 'webp', accepts: ['image/webp'] },
  gif: { contentType: 'image/gif', extension: 'gif', accepts: ['image/gif'] },
  avif: { contentType: 'image/avif', extension: 'avif', accepts: ['image/avif'] },
  mp4: { contentType: 'video/mp4', extension: 'mp4', accepts: ['video/mp4', 'application/mp4', 'video/x-m4v'] },
  webm: { contentType: 'video/webm', extension: 'webm', accepts: ['video/webm'] },
  mov: { contentType: 'video/quicktime', extension: 'mov', accepts: ['video/quicktime'] },
  mp3: { contentType: 'audio/mpeg', extension: 'mp3', accepts: ['audio/mpeg'] },
  wav: { contentType: 'audio/wav', extension: 'wav', accepts: ['audio/wav'] },
  ogg: { contentType: 'audio/ogg', extension: 'ogg', accepts: ['audio/ogg', 'application/ogg', 'audio/opus'] },
  flac: { contentType: 'audio/flac', extension: 'flac', accepts: ['audio/flac'] },
  text: { contentType: 'text/plain', extension: 'txt', accepts: ['text/plain'] },
  markdown: { contentType: 'text/markdown', extension: 'md', accepts: ['text/markdown', 'text/plain'] },
  json: { contentType: 'application/json', extension: 'json', accepts: ['application/json'] },
  // Weights have no registered media types: providers send octet-stream or a vendor application/* type.
  safetensors: { contentType: 'application/octet-stream', extension: 'safetensors', accepts: ['application/*'] },
  ckpt: { contentType: 'application/octet-stream', extension: 'ckpt', accepts: ['application/*'] },
  pt: { contentType: 'application/octet-stream', extension: 'pt', accepts: ['application/*'] },
  pth: { contentType: 'application/octet-stream', extension: 'pth', accepts: ['application/*'] },
  bin: { contentType: 'application/octet-stream', extension: 'bin', accepts: ['application/*'] },
  gguf: { contentType: 'application/octet-stream', extension: 'gguf', accepts: ['application/*'] },
  onnx: { contentType: 'application/octet-stream', extension: 'onnx', accepts: ['application/*'] },
};

export const IMAGE_FORMATS: readonly ImageFormat[] = ['png', 'jpeg', 'jpg', 'webp', 'gif', 'avif'];
export const VIDEO_FORMATS: readonly VideoFormat[] = ['mp4', 'webm', 'mov'];
export const AUDIO_FORMATS: readonly AudioFormat[] = ['mp3', 'wav', 'ogg', 'flac'];
export const TEXT_FORMATS: readonly TextFormat[] = ['text', 'markdown', 'json'];
export const MODEL_FORMATS: readonly ModelFormat[] = ['safetensors', 'ckpt', 'pt', 'pth', 'bin', 'gguf', 'onnx'];

/** Content types that say nothing about the bytes: any format accepts them, and the sniffer decides. */
export const GENERIC_CONTENT_TYPES: ReadonlySet<string> = new Set(['application/octet-stream', 'binary/octet-stream', 'application/binary', 'application/x-binary', 'application/unknown']);
