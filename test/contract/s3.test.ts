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
  // Default part_size 8 MiB and queue_size 4: lib-storage holds up to 4 parts in flight, plus the
  // part it is assembling and the copy Buffer.concat makes of it (about 6 x 8 MiB = 48 MiB live).
  // The source's 1 MiB chunks and the concatenated parts are freed only when V8 next collects
  // external memory, which it lets grow by tens of MiB first: measured growth here is 95-125 MiB
  // for 64-256 MiB objects. 176 MiB leaves room for GC timing and stays well below the 256 MiB
  // object itself.
  maxRssGrowthBytes: 176 * 1024 * 1024,
});
