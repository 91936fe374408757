import type { Command } from 'commander';
import { backup } from '../../operations/backup.ts';
import { formatBytes } from '../output.ts';
import { jobProgressBar } from '../progress.ts';
import type { CommandContext } from '../command-context.ts';

export function registerBackup(program: Command, run: CommandContext): void {
  program.command('backup')
    .description('back up the catalog (a consistent snapshot) and every object not yet in the backup')
    .requiredOption('--to <providerOrDir>', 'a configured provider, or a directory')
    .option('--incremental', 'copy only the objects the previous backup does not have')
    .action((opts: { to: string; incremental?: boolean }) => run(async ({ storage, output }) => {
      const bar = jobProgressBar(`backup -> ${opts.to}`, !output.json);
      let manifest;
      try {
        manifest = await backup(storage, { to: opts.to, incremental: Boolean(opts.incremental), onProgress: (p) => bar.update(p.done, p.done, p.bytes) });
      } finally {
        bar.stop();
      }
      const c = manifest.counts;
      const lines = [`backup ${manifest.id} (${manifest.type}${manifest.parent ? ` after ${manifest.parent}` : ''}): ${c.artifacts} artifacts (${formatBytes(c.bytes)}), ${c.copied} objects copied (${formatBytes(c.copiedBytes)}), ${c.failed} failed`];
      for (const f of manifest.failures) lines.push(`  failed: ${f.storageKey}: ${f.reason}`);
      output.result(lines.join('\n'), manifest);
      if (c.failed > 0) process.exitCode = 1;
    }));
}
