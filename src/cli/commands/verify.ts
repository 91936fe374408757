import type { Command } from 'commander';
import { ValidationError } from '../../errors.ts';
import { allGood } from '../../operations/verify.ts';
import type { VerifyReport } from '../../operations/verify.ts';
import type { StorageManager } from '../../manager/storage-manager.ts';
import { progressBar } from '../progress.ts';
import { table } from '../output.ts';
import type { CommandContext } from '../command-context.ts';

interface VerifyFlags {
  tenant?: string;
  board?: string;
  provider?: string;
  sample?: string;
  repair?: boolean;
}

export function registerVerify(program: Command, run: CommandContext): void {
  program.command('verify')
    .description('read artifacts back and check their SHA-256 and size; report corrupt, missing, size_mismatch and orphan objects (exit code 0 only when all are ok or repaired)')
    .option('--tenant <tenant>', 'only this tenant\'s artifacts')
    .option('--board <board>', 'only this board\'s artifacts')
    .option('--provider <name>', 'only the copies on this provider')
    .option('--sample <fraction>', 'check a random share of the artifacts, e.g. 0.1')
    .option('--repair', 'restore each bad copy from a verified good copy (a mirror) and check it again')
    .action((flags: VerifyFlags) => run(async ({ storage, output }) => {
      const sample = flags.sample === undefined ? undefined : Number(flags.sample);
      if (sample !== undefined && !(sample > 0 && sample <= 1)) throw new ValidationError(`--sample must be a fraction above 0 and at most 1 (e.g. 0.1), not "${flags.sample}"`);
      const bar = progressBar('verify', await estimate(storage, flags, sample), !output.json);
      let report: VerifyReport;
      try {
        report = await storage.verify({
          ...(flags.tenant === undefined ? {} : { tenantId: flags.tenant }),
          ...(flags.board === undefined ? {} : { boardId: flags.board }),
          ...(flags.provider === undefined ? {} : { provider: flags.provider }),
          ...(sample === undefined ? {} : { sample }),
          repair: Boolean(flags.repair),
          onProgress: ({ artifacts, bytes }) => bar.update(artifacts, bytes),
        });
      } finally {
        bar.stop();
      }
      const { counts, problems } = report;
      const lines = problems.length
        ? [table([['STATUS', 'PROVIDER', 'KEY', 'REPAIRED'], ...problems.map((p) => [p.status, p.provider, p.storageKey, p.repaired === undefined ? '-' : p.repaired ? 'yes' : `no${p.error ? `: ${p.error}` : ''}`])])]
        : [];
      lines.push(`verify: ${report.artifacts} artifacts checked: ${counts.ok} ok, ${counts.corrupt} corrupt, ${counts.missing} missing, ${counts.size_mismatch} size_mismatch, ${counts.orphan} orphan, ${counts.repaired} repaired`);
      if (counts.orphan) lines.push('orphans are objects no record knows: `boards-storage cleanup --orphans` lists and removes them');
      output.result(lines.join('\n'), { counts, problems: problems.map((p) => ({ storageKey: p.storageKey, status: p.status, provider: p.provider, ...(p.repaired === undefined ? {} : { repaired: p.repaired }), ...(p.error === undefined ? {} : { error: p.error }) })) });
      if (!allGood(report)) process.exitCode = 1;
    }));
}

/** How many artifacts the bar counts to, where the catalog's usage figures say it cheaply. */
async function estimate(storage: StorageManager, flags: VerifyFlags, sample: number | undefined): Promise<number | undefined> {
  if (flags.board !== undefined) return undefined;
  const count = flags.tenant !== undefined
    ? (await storage.getStats(flags.tenant)).total.count
    : (await storage.catalog.usageByProviderAndTenant()).reduce((sum, u) => sum + u.count, 0);
  return Math.ceil(count * (sample ?? 1));
}
