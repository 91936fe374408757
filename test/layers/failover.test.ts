import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { NotFoundError, ProviderUnavailableError, ValidationError } from '../../src/errors.ts';
import { failoverProvider } from '../../src/layers/failover.ts';
import type { Replica } from '../../src/layers/failover.ts';
import { MetricsRecorder } from '../../src/layers/metrics.ts';
import { LocalProvider } from '../../src/providers/local.ts';
import { S3Provider } from '../../src/providers/s3.ts';
import type { StorageProvider } from '../../src/providers/provider.ts';
import { freePort } from '../../src/server/start.ts';
import { tempDir } from '../helpers.ts';

/** Real providers: two local directories, and an S3 provider whose endpoint refuses connections (a backend that is down). */
async function replicas() {
  const dir = await tempDir('failover');
  const recorder = new MetricsRecorder();
  const counted = (name: string, provider: StorageProvider): Replica => ({ name, provider: recorder.layer(name)(provider) });
  const local = (name: string) => LocalProvider.open({ base_path: join(dir, name) }, { name, signingSecret: 's'.repeat(32), dataDir: dir });
  const down = new S3Provider({ bucket: 'down', endpoint: `http://127.0.0.1:${await freePort('127.0.0.1')}`, force_path_style: true, access_key_id: 'k', secret_access_key: 's', max_attempts: 1 }, { name: 'down' });
  const a = await local('a');
  const b = await local('b');
  after(async () => { await Promise.all([a.close(), b.close(), down.close()]); });
  const calls = (name: string) => Object.values(recorder.snapshot()[name]?.operations ?? {}).reduce((n, op) => n + (op?.count ?? 0), 0);
  return { down: counted('down', down), a: counted('a', a), b: counted('b', b), calls };
}

async function text(stream: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

const bytes = (s: string) => (async function* () { yield Buffer.from(s); })();
const opts = { contentType: 'text/plain', metadata: {} };

describe('failover provider', () => {
  it('reads from the next replica while the primary is down, and stays there for the next call', async () => {
    const { down, a, calls } = await replicas();
    await a.provider.upload('k/x.txt', bytes('copy on a'), opts);
    let asked = 0;
    const copies = failoverProvider({ primary: down, others: () => { asked++; return [a]; } });
    assert.equal(await text(await copies.openDownload('k/x.txt')), 'copy on a');
    assert.equal(copies.serving, 'a');
    assert.equal(calls('down'), 1);
    assert.equal((await copies.getMetadata('k/x.txt')).size, 9);
    assert.equal(calls('down'), 1, 'the dead primary is not asked again by the same composite');
    assert.equal(asked, 1, 'the others are looked up once');
  });

  it('asks for the others only when the primary fails', async () => {
    const { a } = await replicas();
    await a.provider.upload('k/x.txt', bytes('here'), opts);
    const copies = failoverProvider({ primary: a, others: () => { throw new Error('must not be asked'); } });
    assert.equal(await text(await copies.openDownload('k/x.txt', { start: 1, end: 2 })), 'er');
  });

  it('reads a copy when the primary has lost the object; missing everywhere is NotFoundError', async () => {
    const { a, b } = await replicas();
    await b.provider.upload('k/x.txt', bytes('only on b'), opts);
    assert.equal(await text(await failoverProvider({ primary: a, others: () => [b] }).openDownload('k/x.txt')), 'only on b');
    await assert.rejects(failoverProvider({ primary: a, others: () => [b] }).openDownload('k/none.txt'), NotFoundError);
  });

  it('every replica down: the primary\'s error, naming the others tried', async () => {
    const { down } = await replicas();
    const other = { ...down, name: 'down-too' };
    await assert.rejects(failoverProvider({ primary: down, others: () => [other] }).exists('k/x.txt'), (e: unknown) => e instanceof ProviderUnavailableError && /down-too/.test(e.message));
  });

  it('uploads to the next replica when the primary is down and the content can start again', async () => {
    const { down, a, calls } = await replicas();
    const stored = await failoverProvider({ primary: down, others: () => [a] }).upload('k/y.txt', bytes('first try'), { ...opts, replay: () => bytes('sent again') });
    assert.equal(stored.provider, 'a');
    assert.equal(await text(await a.provider.openDownload('k/y.txt')), 'sent again');
    // A one-shot stream goes to the primary or nowhere.
    await assert.rejects(failoverProvider({ primary: down, others: () => [a] }).upload('k/z.txt', bytes('once'), opts), ProviderUnavailableError);
    assert.equal(await a.provider.exists('k/z.txt'), false);
    assert.equal(calls('down'), 2);
  });

  it('does not fail over what failsOver refuses, nor a refusal such as a validation error', async () => {
    const { down, a } = await replicas();
    await a.provider.upload('k/x.txt', bytes('on a'), opts);
    await assert.rejects(failoverProvider({ primary: down, others: () => [a], failsOver: () => false }).openDownload('k/x.txt'), ProviderUnavailableError);
    const refusing = async function* (): AsyncGenerator<Uint8Array> { yield Buffer.from('x'); throw new ValidationError('bad bytes'); };
    await assert.rejects(failoverProvider({ primary: a, others: () => [a] }).upload('k/v.txt', refusing(), { ...opts, replay: refusing }), ValidationError);
  });
});
