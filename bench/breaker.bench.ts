/**
 * How fast a store fails while its provider's circuit breaker is open, with retries configured
 * (4 attempts, 1 s backoff) in front of an S3 endpoint that refuses connections: the store must
 * not wait through the backoff. Target: a median under 5 ms per refused store. Beside it, as the
 * same run's baseline, a store of the same 1 KiB to the memory provider (validation, SHA-256,
 * catalog): the refused store should cost no more than a healthy one.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStorageManager } from '../src/manager/create.ts';
import { median, reportLimit } from './report.ts';

const STORES = Number(process.env.BENCH_BREAKER_STORES ?? 200);

const root = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'boards-bench-breaker-'));
const free = createServer();
await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
const port = (free.address() as { port: number }).port;
await new Promise((r) => free.close(r));
const storage = await createStorageManager({ config: { data_dir: root, default_provider: 's3', providers: {
  s3: { type: 's3', config: { bucket: 'down', endpoint: `http://127.0.0.1:${port}`, force_path_style: true, access_key_id: 'k', secret_access_key: 's', max_attempts: 1 }, retry: { max_attempts: 4, base_delay_ms: 1000, max_delay_ms: 1000 }, circuit_breaker: { failure_threshold: 1, reset_timeout_ms: 3_600_000 } },
  memory: { type: 'memory' },
}, routing_rules: [{ condition: { tenant_id: 'healthy' }, provider: 'memory' }] }, env: {} });
try {
  const body = Buffer.alloc(1024, 7);
  const store = (tenantId: string) => storage.storeArtifact({ artifactId: 'b', artifactType: 'text', contentType: 'text/plain', content: body, tenantId });
  await store('down').catch(() => undefined); // opens the circuit (one real call, its retry refused)
  const refused: number[] = [];
  const healthy: number[] = [];
  for (let i = 0; i < STORES; i++) {
    let started = performance.now();
    await store('down').then(() => { throw new Error('a store to a dead backend succeeded'); }, () => undefined);
    refused.push(performance.now() - started);
    started = performance.now();
    await store('healthy');
    healthy.push(performance.now() - started);
  }
  const calls = (await storage.metrics()).providers.s3?.operations.upload?.count ?? 0;
  console.log(`open-circuit store: median ${median(refused).toFixed(3)} ms, max ${Math.max(...refused).toFixed(1)} ms over ${STORES}; healthy memory store median ${median(healthy).toFixed(3)} ms (ratio ${(median(refused) / median(healthy)).toFixed(2)}); provider calls ${calls}`);
  reportLimit('open circuit breaker: store refused (median)', median(refused), 'ms', 5);
  if (calls !== 1) {
    console.log(`RESULT open circuit breaker: ${calls} provider calls, expected 1 FAIL`);
    process.exitCode = 1;
  }
} finally {
  await storage.close();
  await rm(root, { recursive: true, force: true });
}
