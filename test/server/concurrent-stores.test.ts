import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { ClientRequest } from 'node:http';
import { eventually, objectFilesMatchCatalog, startTestServer } from './server-harness.ts';
import { testDatabases } from '../catalog/databases.ts';

/**
 * Stores that overlap, as 16 clients make them (bench/http-store.bench.ts): every body's first half
 * is in before any body ends, so all of them are in the provider and the catalog at once (the
 * provider's path for uploads in flight together, the catalog's group commit). Each answer is its
 * own body's reference, each object reads back byte for byte, and bodies cut in the same burst
 * leave nothing on disk, in the catalog or in the upload slots.
 */

const CLIENTS = 16;
const CUT = 4;
const SIZE = 64 * 1024;

const suites: (() => unknown)[] = [];
for (const database of testDatabases) {
  // Exactly the burst's slots: one that a cut body kept would refuse a store of the second burst (503).
  const server = await startTestServer({ database, server: { max_concurrent_uploads: CLIENTS + CUT, max_concurrent_uploads_per_tenant: CLIENTS + CUT } });
  const alice = await server.as('alice');
  const { hostname, port } = new URL(server.url);

  const objects = () => objectFilesMatchCatalog(server, 'alice', 40);

  /** A raw store on a connection of its own, its body's first half sent now; `finish` sends the rest (or cuts it). */
  function startStore(body: Buffer, id: string): { finish(cut?: boolean): void; answer: Promise<{ status: number; body: string } | undefined> } {
    let req!: ClientRequest;
    const answer = new Promise<{ status: number; body: string } | undefined>((resolve) => {
      req = httpRequest({
        host: hostname, port, method: 'POST', agent: false,
        path: `/v1/artifacts?artifactType=model&boardId=burst&artifactId=${id}`,
        headers: { ...alice, 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', () => resolve(undefined));
      });
      // A cut request has no answer to wait for.
      req.on('error', () => resolve(undefined));
      req.flushHeaders();
      req.write(body.subarray(0, body.length / 2));
    });
    return {
      finish(cut = false) {
        if (cut) req.destroy();
        else req.end(body.subarray(body.length / 2));
      },
      answer,
    };
  }

  /** The first half of every body, a pause so that all are under way, then the rest (or a cut) for each. */
  async function burst(round: number, cutting: number): Promise<{ bodies: Buffer[]; answers: ({ status: number; body: string } | undefined)[]; cutAnswers: ({ status: number; body: string } | undefined)[] }> {
    const bodies = Array.from({ length: CLIENTS + cutting }, () => randomBytes(SIZE));
    const stores = bodies.map((body, i) => startStore(body, `r${round}-${i}`));
    await new Promise((r) => setTimeout(r, 300));
    stores.forEach((store, i) => store.finish(i >= CLIENTS));
    const answers = await Promise.all(stores.map((s) => s.answer));
    return { bodies: bodies.slice(0, CLIENTS), answers: answers.slice(0, CLIENTS), cutAnswers: answers.slice(CLIENTS) };
  }

  suites.push(() => describe(`${CLIENTS} overlapping POST /v1/artifacts on ${database.name}`, () => {
    it(`stores each body as sent, and ${CUT} bodies cut in the same burst leave nothing behind`, async () => {
      const before = await objects();
      const { bodies, answers, cutAnswers } = await burst(1, CUT);
      // Taken in (a refusal, 429 or 503, would have come before the cut), then cut: no answer.
      assert.deepEqual(cutAnswers, Array.from({ length: CUT }, () => undefined));
      const keys: string[] = [];
      for (const [i, answer] of answers.entries()) {
        assert.equal(answer?.status, 201, answer?.body);
        const ref = JSON.parse(answer.body) as { storageKey: string; size: number; sha256: string; artifactId: string };
        assert.equal(ref.artifactId, `r1-${i}`);
        assert.equal(ref.size, SIZE);
        assert.equal(ref.sha256, createHash('sha256').update(bodies[i]!).digest('hex'));
        keys.push(ref.storageKey);
      }
      for (const [i, key] of keys.entries()) {
        const res = await fetch(`${server.url}/v1/artifacts/${key}`, { headers: alice });
        assert.equal(res.status, 200);
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(bodies[i]!), `${key} reads back as its body`);
      }
      // The cut bodies: no object, no record, no temp file (their clean-up may finish after the answers).
      assert.ok(await eventually(async () => (await objects()).length === before.length + CLIENTS, 5000));
      assert.deepEqual(await objects(), [...before, ...keys].sort());
      assert.deepEqual(await readdir(join(server.filesDir, '~tmp')).catch(() => []), []);
    });

    it('gives every slot back: a second burst of the whole capacity is stored', async () => {
      const before = await objects();
      // Each cut body's slot is given back when its connection closes, after the first burst's answers.
      await new Promise((r) => setTimeout(r, 200));
      const { answers, cutAnswers } = await burst(2, CUT);
      assert.deepEqual(answers.map((a) => a?.status), Array.from({ length: CLIENTS }, () => 201), JSON.stringify(answers.filter((a) => a?.status !== 201)));
      // A slot kept by the first burst's cut bodies would refuse one of these with 503 before its cut.
      assert.deepEqual(cutAnswers, Array.from({ length: CUT }, () => undefined), JSON.stringify(cutAnswers));
      assert.ok(await eventually(async () => (await objects()).length === before.length + CLIENTS, 5000));
    });
  }));
}
for (const suite of suites) suite();
