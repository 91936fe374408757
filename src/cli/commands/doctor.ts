import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { StorageError } from '../../errors.ts';
import type { StorageProvider } from '../../providers/provider.ts';
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
      for (const name of storage.providerNames()) checks.push(...(await checkProvider(name, storage.provider(name))));
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

export async function checkProvider(name: string, provider: StorageProvider): Promise<ProviderCheck[]> {
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
  await step('presign', async () => {
    const url = await provider.getPresignedDownloadUrl(key, { expiresIn: 60 });
    return new URL(url).origin;
  });
  await step('delete', async () => {
    if (!(await provider.delete(key))) throw new Error('the probe object was not there to delete');
  });
  return checks;
}
