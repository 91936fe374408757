/**
 * The real S3 server the S3 tests run against: the Ceph RADOS Gateway that
 * `bash scripts/s3-server.sh start` starts, described by the variables of its env file.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AbortMultipartUploadCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, ListMultipartUploadsCommand,
  ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3';
import type { S3ProviderConfig } from '../../src/providers/s3.ts';
import { createStorageManager } from '../../src/index.ts';
import type { StorageManager } from '../../src/index.ts';

export interface S3TestServer {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  stateDir: string | undefined;
}

const env = process.env;
export const s3Server: S3TestServer | undefined = env.BOARDS_TEST_S3_ENDPOINT
  ? {
    endpoint: env.BOARDS_TEST_S3_ENDPOINT,
    accessKey: env.BOARDS_TEST_S3_ACCESS_KEY ?? '',
    secretKey: env.BOARDS_TEST_S3_SECRET_KEY ?? '',
    region: env.BOARDS_TEST_S3_REGION ?? 'us-east-1',
    stateDir: env.BOARDS_TEST_S3_STATE_DIR || undefined,
  }
  : undefined;

/** Why the S3 tests cannot run here, or undefined when they can. */
export const s3SkipReason: string | undefined = s3Server
  ? undefined
  : 'BOARDS_TEST_S3_ENDPOINT is not set: no S3 server to test against. Start one with `bash scripts/s3-server.sh start`, then `set -a; . "${BOARDS_S3_DIR:-$TMPDIR/boards-s3}/s3.env"; set +a`';

/** Say loudly that a test file is skipped. */
export function warnSkipped(what: string): void {
  if (s3SkipReason) console.warn(`\n*** SKIPPED ${what}: ${s3SkipReason} ***\n`);
}

export function server(): S3TestServer {
  if (!s3Server) throw new Error(s3SkipReason);
  return s3Server;
}

/** Provider config for the test server, with `overrides` on top. */
export function providerConfig(bucket: string, overrides: Partial<S3ProviderConfig> = {}): S3ProviderConfig {
  const s = server();
  return {
    bucket,
    endpoint: s.endpoint,
    region: s.region,
    access_key_id: s.accessKey,
    secret_access_key: s.secretKey,
    force_path_style: true,
    ...overrides,
  };
}

let admin: S3Client | undefined;
/** A bare SDK client on the main gateway, for setting up and checking what the provider did. */
export function adminClient(): S3Client {
  const s = server();
  admin ??= new S3Client({
    endpoint: s.endpoint, region: s.region, forcePathStyle: true,
    credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return admin;
}

/** A new bucket with a unique name. */
export async function createTestBucket(label: string): Promise<string> {
  const bucket = `boards-${label}-${randomUUID().slice(0, 8)}`;
  await adminClient().send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** A manager whose default provider is `bucket` on the gateway, mirrored to local disk under `dir/mirror`. */
export async function s3WithLocalMirror(bucket: string, dir: string): Promise<StorageManager> {
  return await createStorageManager({
    config: {
      data_dir: dir, signing_secret: 's'.repeat(32), default_provider: 's3',
      providers: {
        s3: { type: 's3', config: providerConfig(bucket) as unknown as Record<string, unknown>, mirrors: ['mirror'] },
        mirror: { type: 'local', config: { base_path: join(dir, 'mirror') } },
      },
    },
    env: {},
  });
}

/** Multipart uploads still open in a bucket (under `prefix`). */
export async function openMultipartUploads(bucket: string, prefix?: string): Promise<{ Key?: string | undefined; UploadId?: string | undefined }[]> {
  const page = await adminClient().send(new ListMultipartUploadsCommand({ Bucket: bucket, ...(prefix ? { Prefix: prefix } : {}) }));
  return page.Uploads ?? [];
}

/** Delete every object and open upload in the bucket, then the bucket. */
export async function removeTestBucket(bucket: string): Promise<void> {
  const client = adminClient();
  for (const upload of await openMultipartUploads(bucket)) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key!, UploadId: upload.UploadId! })).catch(() => undefined);
  }
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ...(token ? { ContinuationToken: token } : {}) }));
    await Promise.all((page.Contents ?? []).map((o) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }))));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

const script = join(import.meta.dirname, '..', '..', 'scripts', 's3-server.sh');

/**
 * A second gateway on the same cluster (`s3-server.sh gateway-b`), which fault tests may stop
 * without disturbing the shared one that other test files use.
 */
let gatewayBUrl: string | undefined;

/** Whether something accepts connections at `url` now. */
function answers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

export const gatewayB = {
  async start(): Promise<string> {
    const { stdout } = await run('start');
    const url = /gateway b: (http:\/\/\S+)/.exec(stdout)?.[1];
    if (!url) throw new Error(`gateway-b start printed no address: ${stdout}`);
    gatewayBUrl = url;
    return url;
  },
  /** Stop it, and make sure its port refuses connections before the test goes on (an outage test once found it still answering). */
  async stop(): Promise<void> {
    await run('stop');
    if (!gatewayBUrl) return;
    for (const until = Date.now() + 20_000; await answers(gatewayBUrl);) {
      if (Date.now() > until) throw new Error(`gateway b still answers at ${gatewayBUrl} after it was stopped`);
      await run('kill');
      await new Promise((r) => setTimeout(r, 250));
    }
  },
  async kill(): Promise<void> {
    await run('kill');
  },
};

/** Limit a bucket's size with radosgw-admin (the cluster's admin keyring is in the state dir). */
export async function setBucketQuota(bucket: string, maxBytes: number): Promise<void> {
  const stateDir = server().stateDir;
  if (!stateDir) throw new Error('BOARDS_TEST_S3_STATE_DIR is not set; source the env file that scripts/s3-server.sh writes');
  const admin = (...args: string[]) => promisify(execFile)('radosgw-admin', ['--keyring', join(stateDir, 'ceph.client.admin.keyring'), ...args], { env: { ...process.env, CEPH_CONF: join(stateDir, 'ceph.conf') }, timeout: 60_000 });
  await admin('quota', 'set', '--quota-scope=bucket', `--bucket=${bucket}`, `--max-size=${maxBytes}`);
  await admin('quota', 'enable', '--quota-scope=bucket', `--bucket=${bucket}`);
}

async function run(command: string): Promise<{ stdout: string }> {
  const stateDir = server().stateDir;
  if (!stateDir) throw new Error('BOARDS_TEST_S3_STATE_DIR is not set; source the env file that scripts/s3-server.sh writes');
  return promisify(execFile)('bash', [script, 'gateway-b', command], { env: { ...process.env, BOARDS_S3_DIR: stateDir }, timeout: 120_000 });
}
