import { randomUUID } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { fromFsError } from '../../errors.ts';
import { formatBytes } from '../output.ts';
import { progressStream } from '../progress.ts';
import type { CommandContext } from '../command-context.ts';

export function registerGet(program: Command, run: CommandContext): void {
  program.command('get')
    .description('download an artifact to a file (or to stdout), checking its SHA-256')
    .argument('<key>', 'storage key')
    .option('-o, --output <file>', 'write here instead of stdout; the file appears only when complete and verified')
    .action((key: string, opts: { output?: string }) => run(async ({ storage, output }) => {
      const ref = await storage.getArtifact(key);
      // A verified read: a corrupt copy errors (CorruptionError) before its last bytes are passed on.
      const source = await storage.openDownload(key);
      const verified = storage.integrity.verifies(ref.storageProvider);
      if (!opts.output) {
        await pipeline(source, process.stdout, { end: false });
        return;
      }
      const temp = join(dirname(opts.output), `.${basename(opts.output)}.${randomUUID().slice(0, 8)}.part`);
      try {
        await pipeline(source, progressStream(`get ${basename(opts.output)}`, ref.size, !output.json), createWriteStream(temp, { flags: 'wx' }));
        await rename(temp, opts.output);
      } catch (error) {
        await rm(temp, { force: true });
        throw fromFsError(error, opts.output);
      }
      output.result(`wrote ${opts.output} (${formatBytes(ref.size)}, ${verified ? 'sha256 verified' : `not verified: verify_reads is off for ${ref.storageProvider}`})`, { ...ref, file: opts.output, verified });
    }));
}
