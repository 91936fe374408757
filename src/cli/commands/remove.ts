import type { Command } from 'commander';
import { NotFoundError } from '../../errors.ts';
import type { CommandContext } from '../command-context.ts';

export function registerRemove(program: Command, run: CommandContext): void {
  program.command('rm')
    .description('delete an artifact (to the trash, for trash_retention, unless --permanent)')
    .argument('<key>', 'storage key')
    .option('--permanent', 'delete the object and its record now, bypassing the trash')
    .action((key: string, opts: { permanent?: boolean }) => run(async ({ storage, output }) => {
      if (!(await storage.deleteArtifact(key, undefined, { permanent: Boolean(opts.permanent) }))) throw new NotFoundError(`artifact ${key} not found`);
      const trashed = !opts.permanent && (await storage.catalog.trash.get(key));
      output.result(trashed ? `deleted ${key} (in the trash until ${trashed.purgeAfter}; \`boards-storage undelete ${key}\` brings it back)` : `deleted ${key}`, { deleted: key, ...(trashed ? { purgeAfter: trashed.purgeAfter } : {}) });
    }));

  program.command('undelete')
    .description('bring a deleted artifact back from the trash')
    .argument('<key>', 'storage key')
    .action((key: string) => run(async ({ storage, output }) => {
      const ref = await storage.undelete(key, { actor: 'cli' });
      output.result(`restored ${ref.storageKey}`, ref);
    }));
}
