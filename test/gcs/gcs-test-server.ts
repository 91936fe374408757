/**
 * The GCS server the GCS tests run against: the Cloud Storage emulator that
 * `bash scripts/gcs-emulator.sh start` starts (or a real bucket), described by the variables of its
 * env file. The emulator makes a bucket on its first write and has no route to create one, so a
 * fresh bucket name per test file is enough to isolate them.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { GcsProviderConfig } from '../../src/providers/gcs.ts';

const env = process.env;

export interface GcsTestServer {
  endpoint: string;
  projectId: string;
  /** The firebase-tools emulator, with its known gaps (see test/contract/gcs.test.ts). */
  emulator: boolean;
}

export const gcsServer: GcsTestServer | undefined = env.BOARDS_TEST_GCS_ENDPOINT
  ? {
    endpoint: env.BOARDS_TEST_GCS_ENDPOINT,
    projectId: env.BOARDS_TEST_GCS_PROJECT ?? 'boards-test',
    emulator: env.BOARDS_TEST_GCS_EMULATOR === '1',
  }
  : undefined;

/** Why the GCS tests cannot run here, or undefined when they can. */
export const gcsSkipReason: string | undefined = gcsServer
  ? undefined
  : 'BOARDS_TEST_GCS_ENDPOINT is not set: no GCS server to test against. Start the emulator with `bash scripts/gcs-emulator.sh start`, then `set -a; . "${BOARDS_GCS_DIR:-$TMPDIR/boards-gcs}/gcs.env"; set +a`';

export function server(): GcsTestServer {
  if (!gcsServer) throw new Error(gcsSkipReason);
  return gcsServer;
}

/**
 * A throwaway service-account key made for this test run (never a real one): the emulator ignores
 * credentials, but V4 signing needs a private key.
 */
export const testServiceAccount = (() => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    client_email: 'boards-test@boards-test.iam.gserviceaccount.com',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey,
  };
})();

/** A bucket name no other test file uses. */
export function testBucket(label: string): string {
  return `boards-${label}-${randomUUID().slice(0, 8)}`;
}

/** Provider config for the test server, with `overrides` on top. */
export function providerConfig(bucket: string, overrides: Partial<GcsProviderConfig> = {}): GcsProviderConfig {
  const s = server();
  return {
    bucket,
    api_endpoint: s.endpoint,
    project_id: s.projectId,
    credentials: { client_email: testServiceAccount.client_email, private_key: testServiceAccount.private_key },
    ...overrides,
  };
}
