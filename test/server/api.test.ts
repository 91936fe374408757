import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { media } from '../fixtures/media.ts';
import { jsonHeaders, startTestServer } from './server-harness.ts';

/** The documented surface: OpenAPI, /docs, /metrics, health, the one error shape, and logs without secrets. */

const logLines: string[] = [];
const logs = new Writable({ write(chunk: Buffer, _enc, done) { logLines.push(chunk.toString()); done(); } });
const server = await startTestServer({ logger: { level: 'info', stream: logs } as never });
const alice = await server.as('alice');

describe('the documented API', () => {
  it('lists every route with its schemas in /openapi.json', async () => {
    const res = await fetch(`${server.url}/openapi.json`);
    assert.equal(res.status, 200);
    const doc = await res.json() as { openapi: string; paths: Record<string, Record<string, { parameters?: { name: string }[]; responses: Record<string, unknown>; security?: unknown[] }>>; components: { schemas: Record<string, unknown> } };
    assert.match(doc.openapi, /^3\./);
    const expected: Record<string, string[]> = {
      '/v1/artifacts': ['get', 'post'],
      '/v1/artifacts/{storageKey}': ['get', 'head', 'delete'],
      '/v1/info/{storageKey}': ['get', 'patch'],
      '/v1/urls': ['post'],
      '/v1/uploads': ['post'],
      '/v1/uploads/{storageKey}/complete': ['post'],
      '/v1/stats': ['get'],
      '/v1/signed/{storageKey}': ['get', 'head', 'put'],
      '/healthz': ['get'],
      '/readyz': ['get'],
      '/metrics': ['get'],
    };
    for (const [path, methods] of Object.entries(expected)) {
      assert.ok(doc.paths[path], `${path} is documented`);
      for (const method of methods) assert.ok(doc.paths[path]![method], `${method.toUpperCase()} ${path} is documented`);
    }
    assert.ok(doc.components.schemas.ArtifactReference);
    assert.ok(doc.components.schemas.Error);
    const get = doc.paths['/v1/artifacts/{storageKey}']!.get!;
    assert.ok(get.parameters?.some((p) => p.name === 'storageKey'));
    assert.ok(get.security, 'authenticated routes say so');
    assert.ok(doc.paths['/v1/artifacts']!.post!.responses['201']);
  });

  it('serves a browsable reference at /docs', async () => {
    const res = await fetch(`${server.url}/docs`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await res.text(), /swagger/i);
  });

  it('answers /healthz and /readyz', async () => {
    assert.deepEqual(await (await fetch(`${server.url}/healthz`)).json(), { ok: true });
    const ready = await fetch(`${server.url}/readyz`);
    assert.equal(ready.status, 200);
    const report = await ready.json() as { ok: boolean; catalog: { ok: boolean }; providers: Record<string, { ok: boolean }> };
    assert.equal(report.ok, true);
    assert.equal(report.catalog.ok, true);
    assert.equal(report.providers.local?.ok, true);
  });

  it('renders every error as {"error":{"code","message"}} without stacks', async () => {
    const checks: [Promise<Response>, number, string][] = [
      [fetch(`${server.url}/v1/nothing-here`, { headers: alice }), 404, 'NOT_FOUND'],
      [fetch(`${server.url}/v1/artifacts?limit=abc`, { headers: alice }), 400, 'VALIDATION_FAILED'],
      [fetch(`${server.url}/v1/artifacts?limit=5000`, { headers: alice }), 400, 'VALIDATION_FAILED'],
      [fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(alice), body: '{"keys": [' }), 400, 'VALIDATION_FAILED'],
      [fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(alice), body: '{"keys": []}' }), 400, 'VALIDATION_FAILED'],
      [fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(alice), body: '{"keys": ["a"], "extra": 1}' }), 400, 'VALIDATION_FAILED'],
      [fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(alice), body: '{"keys": ["../x"]}' }), 400, 'SECURITY_VIOLATION'],
      [fetch(`${server.url}/v1/urls`, { method: 'POST', headers: { ...alice, 'content-type': 'text/xml' }, body: '<keys/>' }), 415, 'CONTENT_TYPE_NOT_ALLOWED'],
      [fetch(`${server.url}/v1/uploads`, { method: 'POST', headers: jsonHeaders(alice), body: JSON.stringify({ artifactType: 'image', contentType: 'text/html' }) }), 415, 'CONTENT_TYPE_NOT_ALLOWED'],
      [fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { ...alice, 'content-type': 'not a type' }, body: 'x' }), 415, 'CONTENT_TYPE_NOT_ALLOWED'],
    ];
    for (const [pending, status, code] of checks) {
      const res = await pending;
      const text = await res.text();
      assert.equal(res.status, status, text);
      const body = JSON.parse(text) as { error: { code: string; message: string } };
      assert.deepEqual(Object.keys(body), ['error']);
      assert.equal(body.error.code, code, text);
      assert.doesNotMatch(text, /at .*\.ts:\d+|node:internal/);
    }
  });

  it('counts requests, bytes, latencies and errors on /metrics', async () => {
    const put = await fetch(`${server.url}/v1/artifacts?artifactType=image`, { method: 'POST', headers: { ...alice, 'content-type': 'image/png' }, body: media.png(2048) });
    const ref = await put.json() as { storageKey: string };
    await (await fetch(`${server.url}/v1/artifacts/${ref.storageKey}`, { headers: alice })).arrayBuffer();
    await (await fetch(`${server.url}/v1/info/alice/none`, { headers: alice })).arrayBuffer();
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /boards_storage_http_requests_total\{method="POST",route="\/v1\/artifacts",status="201"\} [1-9]/);
    assert.match(text, /boards_storage_http_requests_total\{method="GET",route="\/v1\/artifacts\/\*",status="200"\} [1-9]/);
    assert.match(text, /boards_storage_http_bytes_in_total\{route="\/v1\/artifacts"\} [1-9]\d{3}/);
    assert.match(text, /boards_storage_http_bytes_out_total\{route="\/v1\/artifacts\/\*"\} [1-9]\d{3}/);
    assert.match(text, /boards_storage_store_duration_seconds_count\{outcome="ok"\} [1-9]/);
    assert.match(text, /boards_storage_download_duration_seconds_count\{outcome="ok"\} [1-9]/);
    assert.match(text, /boards_storage_http_errors_total\{code="NOT_FOUND"\} [1-9]/);
    // The providers' own figures, from the manager's metrics layers and the catalog.
    assert.match(text, /boards_storage_provider_operations\{provider="local",operation="upload"\} [1-9]/);
    assert.match(text, /boards_storage_provider_bytes\{provider="local",operation="upload"\} [1-9]\d{3}/);
    assert.match(text, /boards_storage_provider_latency_seconds\{provider="local",operation="upload",quantile="0\.99"\} \d/);
    assert.match(text, /boards_storage_provider_retries\{provider="local"\} 0/);
    assert.match(text, /boards_storage_stored_artifacts\{provider="local"\} [1-9]/);
    assert.doesNotMatch(text, /alice/);
  });

  it('never logs a token, a signature or a secret', async () => {
    const token = alice.authorization!.slice('Bearer '.length);
    const ref = await server.put('alice', media.png(100), 'image/png');
    const urls = await (await fetch(`${server.url}/v1/urls`, { method: 'POST', headers: jsonHeaders(alice), body: JSON.stringify({ keys: [ref.storageKey] }) })).json() as { urls: { url: string }[] };
    const signed = urls.urls[0]!.url;
    await (await fetch(signed)).arrayBuffer();
    await (await fetch(signed.replace(/sig=[^&]+/, 'sig=tampered-signature-value'))).arrayBuffer();
    await (await fetch(`${server.url}/v1/stats`, { headers: { authorization: `Bearer ${token}x` } })).arrayBuffer();
    const all = logLines.join('');
    assert.match(all, /\/v1\/signed\//, 'signed requests are logged');
    assert.match(all, /sig=\[redacted\]/);
    assert.ok(!all.includes(token), 'the token is not in the logs');
    assert.ok(!all.includes(new URL(signed).searchParams.get('sig')!), 'the signature is not in the logs');
    assert.ok(!all.includes('tampered-signature-value'));
    assert.ok(!all.includes(server.jwtSecret), 'the JWT secret is not in the logs');
    assert.doesNotMatch(all, /authorization/i);
  });
});
