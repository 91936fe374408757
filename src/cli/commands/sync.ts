import type { Command } from 'commander';
import { ValidationError } from '../../errors.ts';
import { mirrorsOf } from '../../operations/sync-mirrors.ts';
import type { StorageManager } from '../../manager/storage-manager.ts';
import { progressBar } from '../progress.ts';
import { table } from '../output.ts';
import type { CommandContext } from '../command-context.ts';

export function registerSync(program: Command, run: CommandContext): void {
  program.command('sync')
    .description('copy artifacts to the mirrors their provider has (after a fallback and rebalance, or a mirror added later), verifying SHA-256 and recording each copy; run again to resume')
    .option('--mirrors', 'backfill mirror copies (the one kind of sync there is)')
    .option('--provider <name>', 'only artifacts stored on this provider, and copies to it')
    .action((flags: { mirrors?: boolean; provider?: string }) => run(async ({ storage, output }) => {
      if (!flags.mirrors) throw new ValidationError('say what to sync: `boards-storage sync --mirrors [--provider P]`');
      const drawing = !output.json && Boolean(process.stderr.isTTY);
      const bar = progressBar('sync --mirrors', drawing ? await estimate(storage, flags.provider) : undefined, drawing);
      let report;
      try {
        report = await storage.syncMirrors({ ...(flags.provider === undefined ? {} : { provider: flags.provider }), onProgress: ({ artifacts, bytes }) => bar.update(artifacts, bytes) });
      } finally {
        bar.stop();
      }
      const lines = report.failed.length ? [table([['KEY', 'MIRROR', 'ERROR'], ...report.failed.map((f) => [f.storageKey, f.provider, f.error])])] : [];
      lines.push(`sync --mirrors: ${report.artifacts} artifacts with mirrors: ${report.copied} copies made, ${report.alreadyDone} already there, ${report.failed.length} failed${report.failed.length ? ' (queued; run again to resume)' : ''}`);
      output.result(lines.join('\n'), report);
      if (report.failed.length) process.exitCode = 1;
    }));
}

/** How many artifacts the run will look at, for the bar (one pass over the catalog's keys). */
async function estimate(storage: StorageManager, provider: string | undefined): Promise<number> {
  let count = 0;
  let after = '';
  for (;;) {
    const batch = await storage.catalog.artifactsAfter(after, 1000);
    count += batch.filter((a) => mirrorsOf(storage.config, a, provider).length > 0).length;
    if (batch.length < 1000) return count;
    after = batch.at(-1)!.storageKey;
  }
}
