import type { Command } from 'commander';
import { rebalance } from '../../lifecycle/rebalance.ts';
import { table } from '../output.ts';
import type { CommandContext } from '../command-context.ts';

export function registerRebalance(program: Command, run: CommandContext): void {
  program.command('rebalance')
    .description('move artifacts to the provider their routing rule chooses (after a fallback, or a rule change), verifying checksums')
    .option('--dry-run', 'list the moves, make none')
    .action((opts: { dryRun?: boolean }) => run(async ({ storage, output }) => {
      const report = await rebalance(storage, { dryRun: Boolean(opts.dryRun) });
      const lines = report.moves.length ? [table([['KEY', 'FROM', 'TO'], ...report.moves.map((m) => [m.key, m.from, m.to])])] : [];
      for (const f of report.failed) lines.push(`failed: ${f.key}: ${f.error}`);
      lines.push(report.dryRun ? `rebalance: ${report.moves.length} artifacts would move (dry run)` : `rebalance: ${report.moved} of ${report.moves.length} artifacts moved`);
      output.result(lines.join('\n'), report);
      if (report.failed.length) process.exitCode = 1;
    }));
}
