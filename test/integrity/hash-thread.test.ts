import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { ThreadHash } from '../../src/content/hash-thread.ts';
import { ContentCheck } from '../../src/content/verify-stream.ts';
import { CorruptionError } from '../../src/errors.ts';

/** SHA-256 on the hashing thread gives the same digests as on the main thread, for shared and ordinary memory. */
describe('hashing thread', () => {
  it('hashes shared and ordinary buffers in order, several hashes interleaved', async () => {
    const parts = [randomBytes(300_000), randomBytes(1), randomBytes(700_000)];
    const shared = Buffer.from(new SharedArrayBuffer(1_000_001));
    const a = new ThreadHash();
    const b = new ThreadHash();
    let at = 0;
    for (const part of parts) {
      part.copy(shared, at);
      await Promise.all([a.update(shared.subarray(at, at + part.length)), b.update(part)]);
      at += part.length;
    }
    const expected = createHash('sha256').update(Buffer.concat(parts)).digest('hex');
    assert.equal(await a.digest(), expected);
    assert.equal(await b.digest(), expected);
    assert.equal(await new ThreadHash().digest(), createHash('sha256').digest('hex'), 'nothing hashed: the empty digest');
  });

  it('an off-thread content check finds a changed byte and a wrong size', async () => {
    const bytes = randomBytes(100_000);
    const expected = { storageKey: 'k', provider: 'p', sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
    const good = new ContentCheck(expected);
    await good.updateOffThread(bytes);
    assert.equal(await good.finishOffThread(), undefined);
    const reported: CorruptionError[] = [];
    const bad = new ContentCheck(expected, (error) => reported.push(error));
    const changed = Buffer.from(bytes);
    changed[99_999] = changed[99_999]! ^ 1;
    await bad.updateOffThread(changed);
    assert.ok((await bad.finishOffThread()) instanceof CorruptionError);
    const long = new ContentCheck(expected, (error) => reported.push(error));
    await assert.rejects(long.updateOffThread(Buffer.concat([bytes, Buffer.from('x')])), CorruptionError);
    long.abandon();
    assert.equal(reported.length, 2);
  });
});
