import { Command, CommanderError } from 'commander';
import { createOutput } from './output.ts';
import { openStorage } from './open-storage.ts';
import type { GlobalOptions } from './open-storage.ts';
import type { CommandContext } from './command-context.ts';
import { registerPut } from './commands/put.ts';
import { registerGet } from './commands/get.ts';
import { registerList } from './commands/list.ts';
import { registerRemove } from './commands/remove.ts';
import { registerUrl } from './commands/url.ts';
import { registerStat } from './commands/stat.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerServe } from './commands/serve.ts';
import { registerToken } from './commands/token.ts';
import { registerCleanup } from './commands/cleanup.ts';
import { registerRebalance } from './commands/rebalance.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerBackup } from './commands/backup.ts';
import { registerRestore } from './commands/restore.ts';
import { registerVerify } from './commands/verify.ts';
import { registerSync } from './commands/sync.ts';
import { registerAudit } from './commands/audit.ts';
import { registerBoards } from './commands/boards.ts';

export function buildProgram(): Command {
  const program = new Command('boards-storage')
    .description('Artifact storage for generative-AI applications: local disk, S3, Supabase and GCS behind one manager')
    .option('--config <file>', 'YAML configuration (default: BOARDS_STORAGE_CONFIG, else local disk under ./.boards-storage)')
    .option('--data-dir <dir>', 'where the service keeps its state (default: ./.boards-storage)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .exitOverride();

  const run: CommandContext = async (body) => {
    const options = program.opts<GlobalOptions>();
    const output = createOutput(Boolean(options.json));
    let storage;
    try {
      storage = await openStorage(options);
      await body({ storage, output });
    } catch (error) {
      output.error(error);
      process.exitCode = 1;
    } finally {
      await storage?.close();
    }
  };

  registerPut(program, run);
  registerGet(program, run);
  registerList(program, run);
  registerRemove(program, run);
  registerUrl(program, run);
  registerStat(program, run);
  registerDoctor(program, run);
  registerServe(program);
  registerToken(program);
  registerCleanup(program, run);
  registerRebalance(program, run);
  registerMigrate(program, run);
  registerBackup(program, run);
  registerRestore(program, run);
  registerVerify(program, run);
  registerSync(program, run);
  registerAudit(program, run);
  registerBoards(program, run);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed the message (or the help) already.
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    throw error;
  }
}
