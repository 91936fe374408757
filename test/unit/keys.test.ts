import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertSafeId, assertSafeKey, buildArtifactKey, buildTempKey, parseArtifactKey, variantFileName } from '../../src/keys.ts';
import { SecurityError } from '../../src/errors.ts';
import { HOSTILE_IDS } from '../fixtures/hostile.ts';

describe('ids and keys', () => {
  for (const [label, id] of HOSTILE_IDS) {
    it(`refuses ${label} as an id, naming the field`, () => {
      assert.throws(() => assertSafeId('boardId', id), (e: unknown) => e instanceof SecurityError && e.code === 'SECURITY_VIOLATION' && e.message.startsWith('boardId'));
    });
  }

  it('refuses non-strings', () => {
    for (const value of [undefined, null, 42, {}, ['a']]) assert.throws(() => assertSafeId('tenantId', value), SecurityError);
  });

  it('accepts the safe alphabet up to 128 characters', () => {
    for (const id of ['a', 'A-z_0.9', 'x'.repeat(128), '.hidden', 'v1.2.3', '-dash']) assert.equal(assertSafeId('id', id), id);
  });

  it('refuses hostile keys', () => {
    for (const key of ['', '/a', 'a/', 'a//b', 'a/../b', 'a/./b', '..', 'a\\b', 'a/b\u0000', 'a/%2e%2e/b', `a/${'x'.repeat(161)}`, 'a/'.repeat(600) + 'a']) {
      assert.throws(() => assertSafeKey(key), SecurityError, JSON.stringify(key));
    }
  });

  it('builds keys with and without a board', () => {
    const now = new Date('2026-03-04T05:06:07.890Z');
    assert.equal(buildArtifactKey({ tenantId: 'user123', artifactType: 'image', boardId: 'board456', artifactId: 'avatar', contentType: 'image/png', now, uniqueSuffix: 'abcdef01' }), 'user123/image/board456/avatar_20260304050607_abcdef01/original.png');
    assert.equal(buildArtifactKey({ tenantId: 'user123', artifactType: 'lora', artifactId: 'style', variant: 'weights.safetensors', contentType: 'application/octet-stream', now, uniqueSuffix: 'abcdef01' }), 'user123/lora/style_20260304050607_abcdef01/weights.safetensors');
  });

  it('gives two keys for the same artifact different random suffixes', () => {
    const parts = { tenantId: 't', artifactType: 'image', artifactId: 'a', contentType: 'image/png' };
    const keys = new Set(Array.from({ length: 200 }, () => buildArtifactKey(parts)));
    assert.equal(keys.size, 200);
    for (const key of keys) assert.match(key, /^t\/image\/a_\d{14}_[0-9a-f]{8}\/original\.png$/);
  });

  it('adds the content type extension to a variant without one, keeps one with', () => {
    assert.equal(variantFileName(undefined, 'image/jpeg'), 'original.jpg');
    assert.equal(variantFileName('thumbnail', 'image/webp'), 'thumbnail.webp');
    assert.equal(variantFileName('weights.safetensors', 'application/octet-stream'), 'weights.safetensors');
    assert.equal(variantFileName('notes', 'text/markdown'), 'notes.md');
  });

  it('names the field that is unsafe', () => {
    const base = { tenantId: 't', artifactType: 'image', artifactId: 'a', contentType: 'image/png' };
    for (const field of ['tenantId', 'artifactType', 'artifactId', 'boardId', 'variant'] as const) {
      assert.throws(() => buildArtifactKey({ ...base, [field]: '../x' }), (e: unknown) => e instanceof SecurityError && e.message.startsWith(field) && e.details.field === field);
    }
  });

  it('reserves the temp tenant for temporary files', () => {
    assert.throws(() => buildArtifactKey({ tenantId: 'temp', artifactType: 'image', artifactId: 'a', contentType: 'image/png' }), SecurityError);
    assert.equal(buildTempKey('job-1', 'frame_001.png'), 'temp/job-1/frame_001.png');
    assert.throws(() => buildTempKey('../job', 'x'), SecurityError);
    assert.throws(() => buildTempKey('job', 'a/b'), SecurityError);
  });

  it('parses keys back into their parts', () => {
    assert.deepEqual(parseArtifactKey('u/image/b/avatar_20260304050607_abcdef01/original.png'), { tenantId: 'u', artifactType: 'image', boardId: 'b', artifactId: 'avatar', variant: 'original.png', createdAt: '2026-03-04T05:06:07Z' });
    assert.equal(parseArtifactKey('u/image/b/avatar_2026_x/original.png'), undefined);
    assert.equal(parseArtifactKey('temp/job/file'), undefined);
    assert.equal(parseArtifactKey('u/image/a_b_20260304050607_abcdef01/v.png')?.artifactId, 'a_b');
  });
});
