import { after } from 'node:test';
import { SupabaseProvider } from '../../src/providers/supabase.ts';
import { providerConfig, removeTestBuckets, supabaseServer, supabaseSkipReason, testBuckets } from '../supabase/supabase-test-server.ts';
import { runProviderContract } from './provider-contract.ts';

let created: string[] = [];
after(async () => {
  if (created.length > 0) await removeTestBuckets(created);
});

runProviderContract({
  name: 'supabase',
  skip: supabaseSkipReason,
  create: async () => {
    const buckets = await testBuckets('contract');
    created = buckets.created;
    return new SupabaseProvider(providerConfig(buckets.bucket, { public_bucket: buckets.publicBucket }), { name: 'supabase-contract' });
  },
  presign: { kind: 'fetch' },
  skipChecks: {
    // The suite expects 403; Supabase Storage answers a token that does not match the URL with
    // HTTP 400 and the reason in the body. test/supabase/provider.test.ts checks it is refused.
    'presigned-tamper': 'Supabase Storage refuses an altered signed URL with HTTP 400 and the reason in the JSON body (its convention for most errors), not necessarily 403; checked in test/supabase/provider.test.ts',
  },
  ...(supabaseServer ? { largeObjectBytes: supabaseServer.largeObjectBytes } : {}),
  // TUS chunks are 6 MiB: tus-js-client holds the chunk it sends plus what the stream buffers.
  maxRssGrowthBytes: 160 * 1024 * 1024,
});
