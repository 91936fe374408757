import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ContentCache } from '../../src/server/content-cache.ts';

describe('the small-object cache', () => {
  const entry = (key: string) => `${key}\n${'a'.repeat(64)}`;

  it('forgets every entry of one artifact, and keeps the others', () => {
    const cache = new ContentCache(1024, 4096);
    cache.set(entry('t/text/x_1/original.txt'), Buffer.from('x'));
    cache.set(`t/text/x_1/original.txt\n${'b'.repeat(64)}`, Buffer.from('x2'));
    cache.set(entry('t/text/x_10/original.txt'), Buffer.from('y'));
    assert.equal(cache.forget('t/text/x_1/original.txt'), true);
    assert.equal(cache.size, 1, 'a key that merely starts the same stays');
    assert.ok(cache.get(entry('t/text/x_10/original.txt')));
    assert.equal(cache.forget('t/text/x_1/original.txt'), false);
  });

  it('does not take back an artifact just forgotten (a read that began before its delete)', () => {
    const cache = new ContentCache(1024, 4096);
    cache.forget('t/text/gone/original.txt');
    cache.set(entry('t/text/gone/original.txt'), Buffer.from('stale'));
    assert.equal(cache.get(entry('t/text/gone/original.txt')), undefined);
    cache.set(entry('t/text/other/original.txt'), Buffer.from('fresh'));
    assert.ok(cache.get(entry('t/text/other/original.txt')));
  });

  it('caches nothing while suspended, and comes back empty', () => {
    const cache = new ContentCache(1024, 4096);
    cache.set(entry('k1'), Buffer.from('1'));
    cache.suspend();
    assert.equal(cache.size, 0);
    assert.equal(cache.accepts(10), false);
    cache.set(entry('k2'), Buffer.from('2'));
    assert.equal(cache.size, 0);
    cache.resume();
    assert.equal(cache.accepts(10), true);
    cache.set(entry('k2'), Buffer.from('2'));
    assert.equal(cache.size, 1);
  });

  it('stays within its byte budget, least recently used first', () => {
    const cache = new ContentCache(3, 6);
    for (const k of ['a', 'b', 'c']) cache.set(entry(k), Buffer.from('xxx'));
    assert.equal(cache.size, 2);
    assert.equal(cache.get(entry('a')), undefined);
  });
});
