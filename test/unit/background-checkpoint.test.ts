import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { DatabaseSync } from 'node:sqlite';
import { LocalIndex } from '../../src/providers/local-index.ts';
import { tempDir } from '../helpers.ts';

describe('background WAL checkpoints', () => {
  it('copy committed pages into the database file off the main thread, lose nothing, and leave no WAL after close', async () => {
    const path = join(await tempDir('checkpoint'), '~index.sqlite');
    const index = new LocalIndex(path);
    const startBytes = statSync(path).size;
    const metadata = { sha256: 'a'.repeat(64), note: 'x'.repeat(300) };
    const total = 250; // 500 commits, about 600 pages: below SQLite's own threshold of 1000
    for (let n = 0; n < total; n++) {
      const object = { key: `t/b/a${n}_20260101000000_${String(n).padStart(8, '0')}/original.bin`, size: 0, contentType: 'application/octet-stream', lastModified: new Date().toISOString(), metadata: {} };
      index.stageNew(object);
      index.markReady({ ...object, size: n, metadata });
      if (n % 50 === 0) await yieldToLoop(); // as stores do between their file operations
    }
    // Below both SQLite's default threshold and the main connection's backstop: only the worker copies pages back.
    const walBytes = statSync(`${path}-wal`).size;
    assert.ok(walBytes < 1000 * 4096, `WAL is ${walBytes} bytes`);
    for (let waited = 0; statSync(path).size <= startBytes && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    assert.ok(statSync(path).size > startBytes, 'the database file has grown while the WAL is still open');
    assert.equal(index.list('t/b/', '', total + 1).length, total);
    await index.close();
    assert.equal(existsSync(`${path}-wal`), false, 'the last connection to close removes the WAL');
    const reader = new DatabaseSync(path, { readOnly: true });
    assert.deepEqual({ ...reader.prepare('SELECT count(*) AS n, sum(size) AS bytes FROM objects WHERE ready = 1').get() }, { n: total, bytes: (total * (total - 1)) / 2 });
    reader.close();
  });
});
