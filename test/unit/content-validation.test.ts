import { attachmentDisposition } from '../../src/content/content-disposition.ts';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { validateContent } from '../../src/content/validate-stream.ts';
import type { ContentDigest, ContentRules } from '../../src/content/validate-stream.ts';
import { toByteStream } from '../../src/content/source.ts';
import { detectExecutable } from '../../src/content/sniff.ts';
import { contentTypeMatches, isContentTypeAllowed } from '../../src/content/content-types.ts';
import { ValidationError } from '../../src/errors.ts';
import { media } from '../fixtures/media.ts';

async function run(bytes: Uint8Array | AsyncIterable<Uint8Array>, rules: Partial<ContentRules> & { contentType: string }): Promise<{ out: Buffer; digest: ContentDigest | undefined }> {
  let digest: ContentDigest | undefined;
  const chunks: Uint8Array[] = [];
  const source = bytes instanceof Uint8Array ? toByteStream(bytes) : bytes;
  for await (const chunk of validateContent(source, { maxSize: 1 << 30, ...rules }, (d) => { digest = d; })) chunks.push(chunk);
  return { out: Buffer.concat(chunks), digest };
}

const rejectsWith = (code: string) => (e: unknown) => e instanceof ValidationError && e.code === code;

describe('content validation', () => {
  const signed: [string, () => Buffer][] = [
    ['image/png', media.png], ['image/jpeg', media.jpeg], ['image/gif', media.gif], ['image/webp', media.webp],
    ['video/mp4', media.mp4], ['video/quicktime', media.mov], ['video/webm', media.webm],
    ['audio/mpeg', media.mp3], ['audio/wav', media.wav], ['audio/ogg', media.ogg],
  ];
  for (const [type, make] of signed) {
    it(`accepts real ${type} and passes the bytes through unchanged with their SHA-256`, async () => {
      const bytes = make();
      const { out, digest } = await run(bytes, { contentType: type });
      assert.deepEqual(out, bytes);
      assert.equal(digest?.sha256, createHash('sha256').update(bytes).digest('hex'));
      assert.equal(digest?.size, bytes.length);
    });
  }

  it('refuses a JPEG, a text file and an executable declared as image/png', async () => {
    for (const bytes of [media.jpeg(), Buffer.from('just some text, honestly'), media.elf()]) {
      await assert.rejects(run(bytes, { contentType: 'image/png' }), rejectsWith('CONTENT_MISMATCH'));
    }
  });

  it('refuses every media type sent under another media type', async () => {
    for (const [declared] of signed) {
      for (const [actual, make] of signed) {
        if (declared === actual) continue;
        const compatible = (declared === 'video/mp4' && actual === 'video/quicktime') || (declared === 'video/quicktime' && actual === 'video/mp4');
        const attempt = run(make(), { contentType: declared });
        if (compatible) await attempt;
        else await assert.rejects(attempt, rejectsWith('CONTENT_MISMATCH'), `${actual} as ${declared}`);
      }
    }
  });

  it('refuses executables even as application/octet-stream', async () => {
    for (const make of [media.elf, media.macho, media.pe]) {
      await assert.rejects(run(make(), { contentType: 'application/octet-stream' }), rejectsWith('CONTENT_MISMATCH'));
    }
  });

  it('does not take text that starts with "MZ" for a Windows executable', async () => {
    assert.equal(detectExecutable(Buffer.from('MZ is how this plain text file happens to begin.'.repeat(3))), undefined);
    await run(Buffer.from('MZ ok '.repeat(20)), { contentType: 'text/plain' });
  });

  it('accepts model weights of any shape as application/octet-stream', async () => {
    const header = Buffer.alloc(8);
    header.writeBigUInt64LE(20n);
    const safetensors = Buffer.concat([header, Buffer.from('{"__metadata__":{}}'), Buffer.alloc(64, 7)]);
    assert.equal((await run(safetensors, { contentType: 'application/octet-stream' })).digest?.size, safetensors.length);
  });

  it('requires valid UTF-8 for text, even when a character is split across chunks', async () => {
    const text = Buffer.from('h\u00e9llo \u6f22\u5b57 \u{1F600} end');
    async function* byteByByte() { for (const b of text) yield Buffer.from([b]); }
    assert.deepEqual((await run(byteByByte(), { contentType: 'text/plain' })).out, text);
    await assert.rejects(run(Buffer.from([0x68, 0x69, 0xff, 0x68]), { contentType: 'text/plain' }), rejectsWith('CONTENT_MISMATCH'));
    await assert.rejects(run(Buffer.from([0x68, 0xe6, 0xbc]), { contentType: 'text/markdown' }), rejectsWith('CONTENT_MISMATCH'), 'truncated sequence at the end');
    await assert.rejects(run(Buffer.from([0xc0, 0xaf]), { contentType: 'text/plain' }), rejectsWith('CONTENT_MISMATCH'), 'overlong encoding');
    await assert.rejects(run(media.png(), { contentType: 'text/plain' }), rejectsWith('CONTENT_MISMATCH'));
  });

  it('requires valid JSON for application/json', async () => {
    await run(Buffer.from('{"prompt":"a cat","steps":30}'), { contentType: 'application/json' });
    await assert.rejects(run(Buffer.from('{"prompt": "a cat",'), { contentType: 'application/json' }), rejectsWith('CONTENT_MISMATCH'));
    await assert.rejects(run(Buffer.alloc(0), { contentType: 'application/json' }), rejectsWith('CONTENT_MISMATCH'));
  });

  it('stops at the first chunk past the size limit, without reading further', async () => {
    let pulled = 0;
    async function* endless() { while (true) { pulled++; yield Buffer.alloc(1024, 0x61); } }
    await assert.rejects(run(endless(), { contentType: 'text/plain', maxSize: 10_000 }), rejectsWith('CONTENT_TOO_LARGE'));
    assert.equal(pulled, 10);
  });

  it('checks the declared size both ways', async () => {
    await assert.rejects(run(Buffer.from('abcdef'), { contentType: 'text/plain', declaredSize: 5 }), rejectsWith('SIZE_MISMATCH'));
    await assert.rejects(run(Buffer.from('abcd'), { contentType: 'text/plain', declaredSize: 5 }), rejectsWith('SIZE_MISMATCH'));
    await run(Buffer.from('abcde'), { contentType: 'text/plain', declaredSize: 5 });
  });

  it('holds back the first bytes until their signature is checked', async () => {
    const yielded: number[] = [];
    const bytes = Buffer.concat([media.jpeg(), Buffer.alloc(10_000)]);
    const iterator = validateContent(toByteStream(bytes.subarray(0, 100)), { contentType: 'image/png', maxSize: 1 << 20 }, () => undefined);
    await assert.rejects(async () => { for await (const c of iterator) yielded.push(c.length); }, rejectsWith('CONTENT_MISMATCH'));
    assert.deepEqual(yielded, []);
  });

  it('reads every kind of content source', async () => {
    const bytes = Buffer.from('same bytes every way');
    const { Readable } = await import('node:stream');
    const sources = [
      bytes, new Uint8Array(bytes), Readable.from([bytes.subarray(0, 4), bytes.subarray(4)]),
      new ReadableStream({ start(c) { c.enqueue(new Uint8Array(bytes)); c.close(); } }),
      (async function* () { yield bytes; })(),
    ];
    for (const source of sources) {
      const chunks: Uint8Array[] = [];
      for await (const c of toByteStream(source)) chunks.push(c);
      assert.deepEqual(Buffer.concat(chunks), bytes);
    }
    assert.throws(() => toByteStream(42 as never), ValidationError);
  });

  it('matches content type globs', () => {
    assert.ok(contentTypeMatches('image/*', 'image/png'));
    assert.ok(!contentTypeMatches('image/*', 'video/mp4'));
    assert.ok(contentTypeMatches('IMAGE/PNG', 'image/png; charset=binary'));
    assert.ok(isContentTypeAllowed(['video/*', 'text/plain'], 'text/plain'));
    assert.ok(!isContentTypeAllowed(['video/*', 'text/plain'], 'text/html'));
  });
});

describe('attachment Content-Disposition', () => {
  it('quotes what needs quoting and encodes filename* per RFC 8187 (apostrophes and parentheses too)', () => {
    assert.equal(attachmentDisposition('fox.png'), 'attachment; filename=fox.png');
    assert.equal(attachmentDisposition('my fox.png'), 'attachment; filename="my fox.png"');
    assert.equal(attachmentDisposition('naïve fox\'s (1).png'), 'attachment; filename="na_ve fox\'s (1).png"; filename*=UTF-8\'\'na%C3%AFve%20fox%27s%20%281%29.png');
    assert.equal(attachmentDisposition('a "b"\\c.txt'), 'attachment; filename="a _b__c.txt"; filename*=UTF-8\'\'a%20%22b%22%5Cc.txt');
  });
});
