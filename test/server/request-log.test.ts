import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { eventually, startTestServer } from './server-harness.ts';

/** The default request log: one line per request, written when it completes. */

const lines: Record<string, unknown>[] = [];
const logs = new Writable({ write(chunk: Buffer, _enc, done) { for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>); done(); } });
const server = await startTestServer({ logger: { level: 'info', stream: logs } as never });
const alice = await server.as('alice');

function linesFor(url: string): Record<string, unknown>[] {
  return lines.filter((l) => (l.req as { url?: string } | undefined)?.url === url);
}

describe('request log', () => {
  it('writes one line per request with method, URL, status and time', async () => {
    const ref = await server.put('alice', new Uint8Array(1000).fill(7), 'application/octet-stream', { artifactType: 'model' });
    const url = `/v1/artifacts/${ref.storageKey}`;
    const res = await fetch(server.url + url, { headers: alice });
    assert.equal((await res.arrayBuffer()).byteLength, 1000);
    assert.ok(await eventually(async () => linesFor(url).length > 0));
    const mine = linesFor(url);
    assert.equal(mine.length, 1, 'one line, not "incoming request" and "request completed"');
    const line = mine[0]!;
    assert.equal(line.msg, 'request completed');
    assert.equal(line.level, 30);
    assert.deepEqual(line.res, { statusCode: 200 });
    assert.equal((line.req as { method: string }).method, 'GET');
    assert.equal(typeof line.responseTime, 'number');
    assert.equal(typeof line.reqId, 'string');
    assert.ok(!lines.some((l) => l.msg === 'incoming request'));
  });

  it('logs refused and failed requests on their one line too', async () => {
    const url = '/v1/artifacts/alice/model/missing_20260101000000_abcdef12/original.bin';
    assert.equal((await fetch(server.url + url, { headers: alice })).status, 404);
    assert.equal((await fetch(server.url + '/v1/stats')).status, 401);
    assert.ok(await eventually(async () => linesFor(url).length > 0 && linesFor('/v1/stats').length > 0));
    assert.deepEqual(linesFor(url).map((l) => (l.res as { statusCode: number }).statusCode), [404]);
    assert.deepEqual(linesFor('/v1/stats').map((l) => (l.res as { statusCode: number }).statusCode), [401]);
  });
});
