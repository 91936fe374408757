import type { Command } from 'commander';
import { NotFoundError } from '../../errors.ts';
import type { CommandContext } from '../command-context.ts';

export function registerRemove(program: Command, run: CommandContext): void {
  program.command('rm')
    .description('delete an artifact')
    .argument('<key>', 'storage key')
    .action((key: string) => run(async ({ storage, output }) => {
      if (!(await storage.deleteArtifact(key))) throw new NotFoundError(`artifact ${key} not found`);
      output.result(`deleted ${key}`, { deleted: key });
    }));
}
