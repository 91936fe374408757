import { after } from 'node:test';
import { S3Provider } from '../../src/providers/s3.ts';
import { createTestBucket, providerConfig, removeTestBucket, s3SkipReason } from '../s3/s3-test-server.ts';
import { runProviderContract } from './provider-contract.ts';

let bucket: string | undefined;
after(async () => {
  if (bucket) await removeTestBucket(bucket);
});

runProviderContract({
  name: 's3 (Ceph RADOS Gateway)',
  skip: s3SkipReason,
  create: async () => {
    bucket = await createTestBucket('contract');
    return new S3Provider(providerConfig(bucket), { name: 's3-contract' });
  },
  presign: { kind: 'fetch' },
  // Default part_size 8 MiB and queue_size 3: the upload holds 3 part buffers (24 MiB), reused,
  // and collects V8's young generation after each part, which frees the source's chunks it copied.
  // The rest is garbage that is not the provider's: the response's socket reads are freed only
  // when V8 next collects external memory, which it lets grow by tens of MiB first.
  // Measured growth here is 105-127 MiB for the 256 MiB object (95-125 MiB with lib-storage's
  // Upload). 176 MiB leaves room for GC timing and stays well below the 256 MiB object itself.
  maxRssGrowthBytes: 176 * 1024 * 1024,
});
