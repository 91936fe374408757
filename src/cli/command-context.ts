import type { StorageManager } from '../manager/storage-manager.ts';
import type { CliOutput } from './output.ts';

export interface CommandServices {
  storage: StorageManager;
  output: CliOutput;
}

/** Runs a command's body with an open manager, closes it, and turns errors into one line and exit code 1. */
export type CommandContext = (body: (services: CommandServices) => Promise<void>) => Promise<void>;
