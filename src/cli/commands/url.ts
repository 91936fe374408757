import type { Command } from 'commander';
import { parseDuration } from '../../config/sizes.ts';
import type { CommandContext } from '../command-context.ts';

export function registerUrl(program: Command, run: CommandContext): void {
  program.command('url')
    .description('print a signed download URL')
    .argument('<key>', 'storage key')
    .option('-e, --expires <duration>', 'lifetime: 90s, 15m, 1h, 7d', '1h')
    .option('--filename <name>', 'ask browsers to save under this name')
    .action((key: string, opts: { expires: string; filename?: string }) => run(async ({ storage, output }) => {
      const expiresIn = parseDuration(opts.expires, '--expires');
      const url = await storage.getDownloadUrl(key, undefined, { expiresIn, ...(opts.filename ? { filename: opts.filename } : {}) });
      output.result(url, { url, expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString() });
    }));
}
