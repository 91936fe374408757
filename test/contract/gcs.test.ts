import { GcsProvider } from '../../src/providers/gcs.ts';
import { gcsServer, gcsSkipReason, providerConfig, testBucket } from '../gcs/gcs-test-server.ts';
import type { ContractCheck } from './provider-contract.ts';
import { runProviderContract } from './provider-contract.ts';

/** What the firebase-tools Cloud Storage emulator cannot check; a real bucket runs everything. */
const EMULATOR_GAPS: Partial<Record<ContractCheck, string>> = {
  'presigned-tamper': 'the emulator serves any GET of /{bucket}/{object} without verifying the signature, so an altered URL still works (the signing itself is proven in test/gcs/signing.test.ts)',
  'presigned-upload': 'the emulator has no XML API PUT route, so signed PUT uploads cannot be exercised (the signed PUT URL is verified in test/gcs/signing.test.ts)',
  'range-unsatisfiable': 'the emulator answers a range that starts past the end with the whole object (200) instead of 416',
};

runProviderContract({
  name: gcsServer?.emulator ? 'gcs (firebase-tools emulator)' : 'gcs',
  skip: gcsSkipReason,
  create: async () => new GcsProvider(providerConfig(testBucket('contract')), { name: 'gcs-contract' }),
  presign: { kind: 'fetch' },
  ...(gcsServer?.emulator ? { skipChecks: EMULATOR_GAPS } : {}),
  // Resumable chunks of 8 MiB (chunk_size): the client holds the chunk it is sending plus the one
  // it is filling; the rest is V8 external memory waiting for a collection, as for S3.
  maxRssGrowthBytes: 176 * 1024 * 1024,
});
