import { createHash, randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { StorageError } from '../../errors.ts';
import type { StorageProvider } from '../../providers/provider.ts';
import type { Catalog } from '../../catalog/catalog.ts';
import { SIGNED_PATH } from '../../providers/signed-url.ts';
import { table } from '../output.ts';
import type { CommandContext } from '../command-context.ts';

export interface ProviderCheck {
  provider: string;
  step: string;
  ok: boolean;
  ms: number;
  detail?: string;
}

/**
 * A real round trip on every configured provider: health, write a probe object, read it back,
 * sign a URL, delete it. Exits non-zero when any step fails.
 */
export function registerDoctor(program: Command, run: CommandContext): void {
  program.command('doctor')
    .description('check every configured provider with a real write, read, presign and delete')
    .action(() => run(async ({ storage, output }) => {
      const checks: ProviderCheck[] = [];
      for (const name of storage.providerNames()) checks.push(...(await checkProvider(name, storage.provider(name), storage.catalog)));
      // The breaker's state after the round trips (layers configured with circuit_breaker).
      const figures = (await storage.metrics()).providers;
      for (const check of checks) {
        const breaker = figures[check.provider]?.breaker;
        if (check.step === 'health' && breaker) check.detail = [check.detail, `breaker ${breaker}`].filter(Boolean).join('; ');
      }
      const rows = [['PROVIDER', 'STEP', 'RESULT', 'MS', 'DETAIL'], ...checks.map((c) => [c.provider, c.step, c.ok ? 'ok' : 'FAILED', String(c.ms), c.detail ?? ''])];
      output.result(table(rows), { ok: checks.every((c) => c.ok), checks });
      if (!checks.every((c) => c.ok)) process.exitCode = 1;
    }));
}

/**
 * `catalog`: where the probe is recorded while its signed URL is fetched, when the URL is one the
 * service serves itself (local, memory), which answers only for recorded artifacts.
 */
export async function checkProvider(name: string, provider: StorageProvider, catalog?: Catalog): Promise<ProviderCheck[]> {
  const checks: ProviderCheck[] = [];
  const key = `boards-doctor/probe-${randomUUID().slice(0, 8)}.txt`;
  const body = Buffer.from(`boards-storage doctor probe ${new Date().toISOString()}`);
  const step = async (label: string, action: () => Promise<string | void>): Promise<boolean> => {
    const started = performance.now();
    try {
      const detail = await action();
      checks.push({ provider: name, step: label, ok: true, ms: Math.round(performance.now() - started), ...(detail ? { detail } : {}) });
      return true;
    } catch (error) {
      const code = error instanceof StorageError ? `${error.code}: ` : '';
      checks.push({ provider: name, step: label, ok: false, ms: Math.round(performance.now() - started), detail: code + (error as Error).message });
      return false;
    }
  };
  if (provider.health) await step('health', () => provider.health!());
  const wrote = await step('write', async () => {
    await provider.upload(key, (async function* () { yield body; })(), { contentType: 'text/plain', size: body.length, metadata: { purpose: 'doctor' } });
  });
  if (!wrote) return checks;
  await step('read', async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of await provider.openDownload(key)) chunks.push(chunk as Buffer);
    if (!Buffer.concat(chunks).equals(body)) throw new Error('the bytes read back differ from the bytes written');
  });
  // The URL is fetched, not only made: a URL pointing nowhere (a wrong public_url, no service) fails.
  await step('presign', async () => {
    const url = new URL(await provider.getPresignedDownloadUrl(key, { expiresIn: 60 }));
    const servedByService = url.pathname.includes(SIGNED_PATH);
    if (servedByService && catalog) {
      await catalog.record({ artifactId: 'probe', artifactType: 'text', tenantId: DOCTOR_TENANT, variant: key.slice(key.lastIndexOf('/') + 1), storageKey: key, storageProvider: name, contentType: 'text/plain', size: body.length, sha256: createHash('sha256').update(body).digest('hex'), visibility: 'private', createdAt: new Date().toISOString(), metadata: {} }, 'doctor');
    }
    try {
      await fetchSigned(url, body, servedByService);
    } finally {
      if (servedByService && catalog) await catalog.remove(key, DOCTOR_TENANT, 'doctor');
    }
    return url.origin;
  });
  await step('delete', async () => {
    if (!(await provider.delete(key))) throw new Error('the probe object was not there to delete');
  });
  return checks;
}

const DOCTOR_TENANT = 'boards-doctor';

/** GET a signed URL and check that it returns the probe's bytes. */
async function fetchSigned(url: URL, body: Buffer, servedByService: boolean): Promise<void> {
  const hint = servedByService ? '; this provider\'s URLs are served by `boards-storage serve`: is it running there, and is server.public_url (BOARDS_STORAGE_PUBLIC_URL) the address clients reach it at?' : '';
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    throw new Error(`the signed URL does not answer at ${url.origin} (${cause})${hint}`);
  }
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`the signed URL answered ${res.status} at ${url.origin}${hint}`);
  if (!bytes.equals(body)) throw new Error(`the signed URL at ${url.origin} returned other bytes than the probe's`);
}
