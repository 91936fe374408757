import type { Command } from 'commander';
import { ValidationError } from '../../errors.ts';
import { restore } from '../../operations/restore.ts';
import { pointInTimeRestore } from '../../operations/point-in-time.ts';
import type { PointInTimeReport } from '../../operations/point-in-time.ts';
import { formatBytes } from '../output.ts';
import { jobProgressBar } from '../progress.ts';
import type { CommandContext } from '../command-context.ts';

export function registerRestore(program: Command, run: CommandContext): void {
  program.command('restore')
    .description('rebuild an empty store from a backup (--from), or put the catalog back to a moment (--at) from the audit trail and the trash')
    .option('--from <providerOrDir>', 'restore a backup from this provider or directory into this (empty) store')
    .option('--backup <id>', 'with --from: which backup (default: the newest, or the newest before --at)')
    .option('--at <time>', 'the moment to go back to: 2026-12-01T10:00:00Z')
    .option('--tenant <tenantId>', 'with --at alone: only this tenant')
    .option('-b, --board <boardId>', 'with --at alone: only this board')
    .option('--dry-run', 'with --at alone: list what would change, change nothing')
    .action((opts: { from?: string; backup?: string; at?: string; tenant?: string; board?: string; dryRun?: boolean }) => run(async ({ storage, output }) => {
      const at = opts.at === undefined ? undefined : new Date(opts.at);
      if (at && Number.isNaN(at.getTime())) throw new ValidationError(`--at "${opts.at}" is not a time; write it like 2026-12-01T10:00:00Z`);
      if (!opts.from) {
        if (!at) throw new ValidationError('say what to restore: --from PROVIDER_OR_DIR (a backup) and/or --at TIME (a point in time)');
        const report = await pointInTimeRestore(storage, { at, ...(opts.tenant ? { tenantId: opts.tenant } : {}), ...(opts.board ? { boardId: opts.board } : {}), dryRun: Boolean(opts.dryRun), actor: 'cli' });
        output.result(describe(report), report);
        if (report.unrecoverable.length) process.exitCode = 1;
        return;
      }
      if (opts.tenant || opts.board || opts.dryRun) throw new ValidationError('--tenant, --board and --dry-run go with --at alone (a point-in-time restore in place)');
      const bar = jobProgressBar(`restore <- ${opts.from}`, !output.json);
      let report;
      try {
        report = await restore(storage, { from: opts.from, ...(opts.backup ? { backupId: opts.backup } : {}), ...(at ? { at } : {}), onProgress: (p) => bar.update(p.done, p.total, p.bytes) });
      } finally {
        bar.stop();
      }
      const lines = [`restored backup ${report.backupId}: ${report.counts.verified} of ${report.counts.artifacts} objects verified (${formatBytes(report.bytes)})`];
      if (report.pointInTime) lines.push(describe(report.pointInTime));
      output.result(lines.join('\n'), report);
    }));
}

function describe(report: PointInTimeReport): string {
  const lines = [`point in time ${report.at}${report.dryRun ? ' (dry run: nothing changed)' : ''}: ${report.restored.length} brought back from the trash, ${report.trashed.length} moved to the trash, ${report.unrecoverable.length} purged already, ${report.visibility.length} visibility set back`];
  for (const key of report.restored) lines.push(`  ${report.dryRun ? 'would restore' : 'restored'}  ${key}`);
  for (const key of report.trashed) lines.push(`  ${report.dryRun ? 'would trash' : 'trashed'}    ${key}`);
  for (const key of report.unrecoverable) lines.push(`  purged       ${key}`);
  for (const v of report.visibility) lines.push(`  ${report.dryRun ? 'would make' : 'made'} ${v.to} (was ${v.from})  ${v.storageKey}`);
  return lines.join('\n');
}
