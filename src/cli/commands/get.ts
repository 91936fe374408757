import { createHash, randomUUID } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { CorruptionError, fromFsError } from '../../errors.ts';
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
      const hash = createHash('sha256');
      const hashing = new Transform({ transform(chunk: Buffer, _e, cb) { hash.update(chunk); cb(null, chunk); } });
      const source = await storage.openDownload(key, undefined, ref.storageProvider);
      if (!opts.output) {
        await pipeline(source, hashing, process.stdout, { end: false });
        if (ref.sha256 && hash.digest('hex') !== ref.sha256) throw new CorruptionError(`${key}: the bytes read do not match the recorded SHA-256`);
        return;
      }
      const temp = join(dirname(opts.output), `.${basename(opts.output)}.${randomUUID().slice(0, 8)}.part`);
      try {
        await pipeline(source, hashing, progressStream(`get ${basename(opts.output)}`, ref.size, !output.json), createWriteStream(temp, { flags: 'wx' }));
        if (ref.sha256 && hash.digest('hex') !== ref.sha256) throw new CorruptionError(`${key}: the bytes read do not match the recorded SHA-256; nothing was written`);
        await rename(temp, opts.output);
      } catch (error) {
        await rm(temp, { force: true });
        throw fromFsError(error, opts.output);
      }
      output.result(`wrote ${opts.output} (${formatBytes(ref.size)}, sha256 verified)`, { ...ref, file: opts.output });
    }));
}
