/**
 * The multipart upload's pool of part buffers: it never holds more than queue_size parts of content
 * the server has not yet acknowledged, and a part the server refuses while others are in flight
 * leaves no object and no multipart upload behind; the content's chunks it copied are freed as it goes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { runInNewContext } from 'node:vm';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { UploadPartCommandInput } from '@aws-sdk/client-s3';
import { StorageError } from '../../src/errors.ts';
import { S3Provider } from '../../src/providers/s3.ts';
import { generated } from '../contract/provider-contract.ts';
import { adminClient, createTestBucket, openMultipartUploads, providerConfig, removeTestBucket, s3SkipReason, warnSkipped } from './s3-test-server.ts';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const QUEUE = 2;
const binary = { contentType: 'application/octet-stream', metadata: {} };

/** The object at `key` reads back whole: `size` bytes whose SHA-256 is what `written` hashed. */
async function assertStored(provider: S3Provider, key: string, size: number, written: ReturnType<typeof createHash>): Promise<void> {
  const read = createHash('sha256');
  let count = 0;
  for await (const chunk of await provider.openDownload(key)) {
    read.update(chunk as Buffer);
    count += (chunk as Buffer).length;
  }
  assert.equal(count, size);
  assert.equal(read.digest('hex'), written.digest('hex'));
}

/** Calls `onPart` with each UploadPart's input and request, and `onAcknowledged` after each answer. */
function watchParts(provider: S3Provider, hooks: { onPart?: (input: UploadPartCommandInput, request: { headers: Record<string, string> }) => void; onAcknowledged?: (input: UploadPartCommandInput) => void }): void {
  provider.client.middlewareStack.add((next, context) => async (args) => {
    if (context.commandName !== 'UploadPartCommand') return next(args);
    const input = args.input as UploadPartCommandInput;
    hooks.onPart?.(input, args.request as { headers: Record<string, string> });
    const answer = await next(args);
    hooks.onAcknowledged?.(input);
    return answer;
  }, { step: 'build', name: 'testWatchParts' });
}

warnSkipped('s3 multipart tests');
describe('s3 multipart uploads from a pool of part buffers', { skip: s3SkipReason ?? false }, () => {
  let bucket: string;
  before(async () => {
    bucket = await createTestBucket('multipart');
  });
  after(async () => {
    if (bucket) await removeTestBucket(bucket);
  });

  it('reads the content no further ahead than queue_size parts the server has not acknowledged', async () => {
    const provider = new S3Provider(providerConfig(bucket, { part_size: PART, queue_size: QUEUE }));
    try {
      let pulled = 0;
      let acknowledged = 0;
      let mostHeld = 0;
      watchParts(provider, { onAcknowledged: (input) => { acknowledged += Number(input.ContentLength); } });
      // 12 parts exactly: the content ends on a part boundary.
      const size = 12 * PART;
      const written = createHash('sha256');
      async function* counted(): AsyncGenerator<Uint8Array> {
        for await (const chunk of generated(size, written)) {
          pulled += chunk.length;
          mostHeld = Math.max(mostHeld, pulled - acknowledged);
          yield chunk;
        }
      }
      await provider.upload('multipart/bounded.bin', counted(), binary);
      assert.equal(acknowledged, size);
      // Parts in flight or being filled, plus what is left of the chunk that straddled a boundary.
      assert.ok(mostHeld <= QUEUE * PART + MiB, `held ${mostHeld / MiB} MiB not yet acknowledged (at most ${QUEUE * PART / MiB + 1} MiB)`);
      await assertStored(provider, 'multipart/bounded.bin', size, written);
    } finally {
      await provider.close();
    }
  });

  it('frees the chunks it copied as each part is filled, without exposing gc to the process', async () => {
    const provider = new S3Provider(providerConfig(bucket, { part_size: PART, queue_size: QUEUE }));
    try {
      const size = 24 * PART;
      const before = process.memoryUsage().arrayBuffers;
      let most = 0;
      // A new 1 MiB chunk each time, dropped by the provider once copied into a part.
      async function* fresh(): AsyncGenerator<Uint8Array> {
        for (let offset = 0, n = 0; offset < size; offset += MiB, n++) {
          most = Math.max(most, process.memoryUsage().arrayBuffers - before);
          yield Buffer.allocUnsafe(MiB).fill(n & 0xff);
        }
      }
      await provider.upload('multipart/freed.bin', fresh(), binary);
      // The pool (QUEUE x PART), the chunk being copied and room for the SDK's own buffers. Left to
      // itself, V8 lets the dropped chunks pile up by about 64 MiB before it frees them.
      const bound = QUEUE * PART + 16 * MiB;
      assert.ok(most <= bound, `array buffers grew by ${(most / MiB).toFixed(1)} MiB during the upload (at most ${bound / MiB} MiB)`);
      assert.equal(Number((await adminClient().send(new HeadObjectCommand({ Bucket: bucket, Key: 'multipart/freed.bin' }))).ContentLength), size);
      assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
      assert.equal(runInNewContext('typeof gc'), 'undefined');
    } finally {
      await provider.close();
    }
  });

  it('sends a retried part again from its own buffer, untouched by the parts filled meanwhile', async () => {
    const provider = new S3Provider(providerConfig(bucket, { part_size: PART, queue_size: QUEUE, max_attempts: 3 }));
    try {
      const attempts = new Map<number, number>();
      // Inside the SDK's retries (finalizeRequest, low priority): every attempt passes here. Part 2's
      // first attempt is held while the other buffer goes round several parts, then fails with a
      // network error the SDK retries; a buffer released before its part settled would have been
      // refilled with a later part by then.
      provider.client.middlewareStack.add((next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand') {
          const part = Number((args.input as UploadPartCommandInput).PartNumber);
          const attempt = (attempts.get(part) ?? 0) + 1;
          attempts.set(part, attempt);
          if (part === 2 && attempt === 1) {
            await sleep(2000);
            throw Object.assign(new Error('connection reset (test)'), { code: 'ECONNRESET' });
          }
        }
        return next(args);
      }, { step: 'finalizeRequest', priority: 'low', name: 'testRetryPartTwo' });
      const size = 8 * PART + MiB;
      const written = createHash('sha256');
      await provider.upload('multipart/retried.bin', generated(size, written), binary);
      assert.equal(attempts.get(2), 2, 'part 2 was sent twice');
      assert.ok((attempts.get(5) ?? 0) >= 1, 'later parts went out while part 2 waited');
      await assertStored(provider, 'multipart/retried.bin', size, written);
    } finally {
      await provider.close();
    }
  });

  it('keeps nothing when the server refuses a part while others are in flight', async () => {
    const provider = new S3Provider(providerConfig(bucket, { part_size: PART, queue_size: QUEUE }));
    try {
      let pulled = 0;
      // A Content-MD5 that cannot match: the gateway answers the third part with 400 BadDigest.
      watchParts(provider, { onPart: (input, request) => { if (input.PartNumber === 3) request.headers['content-md5'] = Buffer.alloc(16).toString('base64'); } });
      async function* counted(): AsyncGenerator<Uint8Array> {
        for await (const chunk of generated(64 * MiB)) {
          pulled += chunk.length;
          yield chunk;
        }
      }
      await assert.rejects(provider.upload('multipart/refused.bin', counted(), binary), (e: unknown) => e instanceof StorageError && /BadDigest|Content-MD5/i.test(e.message));
      assert.ok(pulled < 64 * MiB, 'the content was not read to its end after the failure');
      assert.equal(await adminClient().send(new HeadObjectCommand({ Bucket: bucket, Key: 'multipart/refused.bin' })).then(() => true, () => false), false);
      assert.deepEqual(await openMultipartUploads(bucket, 'multipart/refused.bin'), []);
    } finally {
      await provider.close();
    }
  });
});
