import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from '../../src/layers/backoff.ts';

describe('backoffDelay', () => {
  it('doubles from the base up to the cap', () => {
    assert.deepEqual([0, 1, 2, 3, 10, 40].map((n) => backoffDelay(n, { baseMs: 1000, maxMs: 30_000 })), [1000, 2000, 4000, 8000, 30_000, 30_000]);
  });

  it('with jitter, stays in the upper half of the same ceiling', () => {
    for (let i = 0; i < 200; i++) {
      const delay = backoffDelay(3, { baseMs: 500, maxMs: 10_000, jitter: true });
      assert.ok(delay >= 2000 && delay <= 4000, String(delay));
    }
  });
});
