import { ValidationError } from '../errors.ts';
import type { ProviderCapabilities, StorageProvider } from './provider.ts';
import { declaredTypeCapabilities } from './registry.ts';

/**
 * The one place capabilities are read. A provider that declares nothing (a user's plugin) is taken
 * at its methods: it can copy when it has `copy`, serve public URLs when it has `getPublicUrl`, and
 * sign both ways (every provider implements the two signing methods).
 */
export function capabilitiesOf(provider: StorageProvider): ProviderCapabilities {
  const declared = provider.capabilities ?? {};
  return {
    presignDownload: declared.presignDownload ?? true,
    presignUpload: declared.presignUpload ?? 'PUT',
    publicUrl: declared.publicUrl ?? provider.getPublicUrl !== undefined,
    copy: declared.copy ?? provider.copy !== undefined,
    selfSignedUrls: declared.selfSignedUrls ?? false,
    uploadChecksum: declared.uploadChecksum ?? false,
  };
}

const DOING: Record<'presignDownload' | 'presignUpload' | 'copy', string> = {
  presignDownload: 'sign download URLs',
  presignUpload: 'take presigned direct uploads',
  copy: 'copy objects server-side',
};

/** Refuse, before any request to the backend, an operation the provider says it cannot do. */
export function requireCapability(provider: StorageProvider, name: string, capability: keyof typeof DOING): void {
  if (capabilitiesOf(provider)[capability]) return;
  throw new ValidationError(`storage provider "${name}" cannot ${DOING[capability]} (it declares ${capability}: false); route these artifacts to a provider that can`, {
    details: { provider: name, capability },
  });
}

/** Whether providers of `type` sign URLs this service serves (local, memory, and types registered so). */
export function signsOwnUrls(type: string): boolean {
  return declaredTypeCapabilities(type).selfSignedUrls === true;
}
