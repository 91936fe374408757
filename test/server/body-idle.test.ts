import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { cutWhenBodyIdle } from '../../src/server/request-body.ts';
import { StorageError } from '../../src/errors.ts';
import { KeepAliveClient } from './keep-alive-client.ts';

/**
 * cutWhenBodyIdle, the body idle timeout for bodies other code reads (the TUS handlers), on a
 * plain HTTP server over loopback whose handler reads the body the way @tus/server does (a web
 * stream over the request): only the client's silence while the reader waits counts, never a
 * reader that has not started or holds back.
 */

const IDLE_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome { bytes: number; error?: unknown }

/** A server whose handler waits `startAfterMs` before reading, then holds back for `pauseMs` after the first chunk (a slow disk). */
async function withServer(startAfterMs: number, pauseMs: number, run: (url: string, outcome: Promise<Outcome>) => Promise<void>): Promise<void> {
  let settle: (outcome: Outcome) => void = () => undefined;
  const outcome = new Promise<Outcome>((resolve) => { settle = resolve; });
  const server: Server = createServer((req: IncomingMessage, res) => {
    res.once('close', cutWhenBodyIdle(req, IDLE_MS));
    void (async () => {
      let bytes = 0;
      try {
        await sleep(startAfterMs);
        const reader = (Readable.toWeb(req) as ReadableStream<Uint8Array>).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (bytes === 0 && pauseMs > 0) await sleep(pauseMs);
          bytes += value.length;
        }
        res.end(String(bytes));
        settle({ bytes });
      } catch (error) {
        settle({ bytes, error });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, outcome);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const head = (length: number) => `PUT /body HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${length}\r\n\r\n`;

describe('cutWhenBodyIdle', () => {
  it('cuts a body whose client stops sending while the reader waits: the reader fails with REQUEST_TIMEOUT and the connection closes', async () => {
    await withServer(0, 0, async (url, outcome) => {
      const client = await KeepAliveClient.open(url);
      await client.write(head(10_000));
      await client.write(Buffer.alloc(4000, 1));
      const stalledAt = Date.now();
      const result = await outcome;
      await client.closedAt;
      const after = Date.now() - stalledAt;
      assert.ok(after >= IDLE_MS - 50 && after < IDLE_MS + 2000, `cut ${after} ms after the last byte`);
      assert.equal(result.bytes, 4000);
      assert.ok(result.error instanceof StorageError, String(result.error));
      assert.equal(result.error.code, 'REQUEST_TIMEOUT');
    });
  });

  it('does not count a reader that has not started: a body sent whole and read late is read whole', async () => {
    await withServer(IDLE_MS * 4, 0, async (url, outcome) => {
      const client = await KeepAliveClient.open(url);
      try {
        await client.write(head(300_000));
        await client.write(Buffer.alloc(300_000, 2));
        const answer = await client.response(10_000);
        assert.equal(answer?.body.toString(), '300000');
        assert.deepEqual(await outcome, { bytes: 300_000 });
      } finally {
        client.close();
      }
    });
  });

  it('does not count a reader that holds back (a slow disk): the request is paused, not idle', async () => {
    // Far more than the request, its web stream and the kernel buffer: the client is still sending when the reader stops.
    const size = 32 * 1024 * 1024;
    await withServer(0, IDLE_MS * 3, async (url, outcome) => {
      const client = await KeepAliveClient.open(url);
      try {
        await client.write(head(size));
        void client.write(Buffer.alloc(size, 3));
        const result = await outcome;
        assert.equal(result.error, undefined, String(result.error));
        assert.equal(result.bytes, size);
      } finally {
        client.close();
      }
    });
  });

  it('leaves nothing armed once the body is complete: the kept-alive connection outlives the timeout', async () => {
    await withServer(0, 0, async (url, outcome) => {
      const client = await KeepAliveClient.open(url);
      try {
        await client.write(head(5));
        await client.write('hello');
        assert.equal((await client.response(5000))?.body.toString(), '5');
        // Kept alive past the timeout: nothing cuts the idle connection between requests.
        await sleep(IDLE_MS * 2);
        assert.equal(client.closed, false);
        assert.deepEqual(await outcome, { bytes: 5 });
      } finally {
        client.close();
      }
    });
  });
});
