/**
 * The Supabase Storage server the Supabase tests run against: the self-hosted server that
 * `.ci/run` starts with ../shared/reference/supabase-storage/supabase-storage.sh (its supabase.env
 * mapped to the variables below), a Supabase project, or `supabase start`. The tests run only when
 * these are set, and skip loudly otherwise:
 *   BOARDS_TEST_SUPABASE_URL          the project URL (https://<project>.supabase.co, http://127.0.0.1:54321 for `supabase start`, or the self-hosted server's URL)
 *   BOARDS_TEST_SUPABASE_STORAGE_URL  optional: a self-hosted storage server's API root (overrides the /storage/v1 beneath the URL)
 *   BOARDS_TEST_SUPABASE_KEY          a service-role (secret) key
 *   BOARDS_TEST_SUPABASE_BUCKET       optional: an existing bucket to use; otherwise a private and a
 *                                     public bucket are created for the run and removed after
 *   BOARDS_TEST_SUPABASE_LARGE_MIB    optional: size of the contract's streamed object (default 256;
 *                                     lower it below the project's upload size limit, 50 MB on the free plan)
 */
import { randomUUID } from 'node:crypto';
import { StorageClient } from '@supabase/storage-js';
import { supabaseStorageUrl } from '../../src/providers/supabase.ts';
import type { SupabaseProviderConfig } from '../../src/providers/supabase.ts';

const env = process.env;

export interface SupabaseTestServer {
  url: string;
  storageUrl: string | undefined;
  key: string;
  bucket: string | undefined;
  largeObjectBytes: number;
}

export const supabaseServer: SupabaseTestServer | undefined = env.BOARDS_TEST_SUPABASE_URL && env.BOARDS_TEST_SUPABASE_KEY
  ? {
    url: env.BOARDS_TEST_SUPABASE_URL,
    storageUrl: env.BOARDS_TEST_SUPABASE_STORAGE_URL || undefined,
    key: env.BOARDS_TEST_SUPABASE_KEY,
    bucket: env.BOARDS_TEST_SUPABASE_BUCKET || undefined,
    largeObjectBytes: Number(env.BOARDS_TEST_SUPABASE_LARGE_MIB ?? 256) * 1024 * 1024,
  }
  : undefined;

/** Why the Supabase tests cannot run here, or undefined when they can. */
export const supabaseSkipReason: string | undefined = supabaseServer
  ? undefined
  : 'BOARDS_TEST_SUPABASE_URL and BOARDS_TEST_SUPABASE_KEY are not set: no Supabase Storage server to test against. Start one with `bash ../shared/reference/supabase-storage/supabase-storage.sh start` and map its supabase.env (URL, storage URL, service key; README, Operations), or point them at a Supabase project (a service-role key) or `supabase start`';

export function server(): SupabaseTestServer {
  if (!supabaseServer) throw new Error(supabaseSkipReason);
  return supabaseServer;
}

function admin(): StorageClient {
  const s = server();
  return new StorageClient(supabaseStorageUrl({ url: s.url, storage_url: s.storageUrl }), { apikey: s.key, Authorization: `Bearer ${s.key}` });
}

/** The buckets for one test file: the configured one (with a fresh public one), or two new ones. */
export async function testBuckets(label: string): Promise<{ bucket: string; publicBucket: string; created: string[] }> {
  const suffix = randomUUID().slice(0, 8);
  const created: string[] = [];
  let bucket = server().bucket;
  if (!bucket) {
    bucket = `boards-${label}-${suffix}`;
    const { error } = await admin().createBucket(bucket, { public: false });
    if (error) throw error;
    created.push(bucket);
  }
  const publicBucket = `boards-${label}-public-${suffix}`;
  const { error } = await admin().createBucket(publicBucket, { public: true });
  if (error) throw error;
  created.push(publicBucket);
  return { bucket, publicBucket, created };
}

/** Empty and delete the buckets a test file created. */
export async function removeTestBuckets(buckets: string[]): Promise<void> {
  for (const bucket of buckets) {
    await admin().emptyBucket(bucket);
    await admin().deleteBucket(bucket);
  }
}

/** Provider config for the test server, with `overrides` on top. */
export function providerConfig(bucket: string, overrides: Partial<SupabaseProviderConfig> = {}): SupabaseProviderConfig {
  const s = server();
  return {
    url: s.url,
    ...(s.storageUrl ? { storage_url: s.storageUrl } : {}),
    key: s.key,
    bucket,
    ...overrides,
  };
}
