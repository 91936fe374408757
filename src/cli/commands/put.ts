import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { ValidationError, fromFsError } from '../../errors.ts';
import { contentTypeForFileName } from '../../content/content-types.ts';
import { assertSafeId } from '../../keys.ts';
import { formatBytes } from '../output.ts';
import { progressStream } from '../progress.ts';
import type { CommandContext } from '../command-context.ts';

export function registerPut(program: Command, run: CommandContext): void {
  program.command('put')
    .description('store a file as an artifact and print its reference')
    .argument('<file>', 'the file to store')
    .requiredOption('-t, --type <artifactType>', 'artifact type: image, video, audio, text, model, lora, checkpoint (the configuration\'s artifact_types)')
    .option('--id <artifactId>', 'artifact id (default: the file name without its extension)')
    .option('-b, --board <boardId>', 'board id')
    .option('--tenant <tenantId>', 'tenant id', 'default')
    .option('-c, --content-type <type>', 'content type (default: from the file extension)')
    .option('--variant <name>', 'variant name (default: original)')
    .option('--visibility <visibility>', 'private or public', 'private')
    .option('--input <key>', 'lineage: the storage key of an artifact this one was made from (repeat for several)', (key: string, keys: string[]) => [...keys, key], [] as string[])
    .action((file: string, opts: { type: string; id?: string; board?: string; tenant: string; contentType?: string; variant?: string; visibility: string; input: string[] }) => run(async ({ storage, output }) => {
      const info = await stat(file).catch((error: unknown) => { throw fromFsError(error, file); });
      if (!info.isFile()) throw new ValidationError(`${file} is not a regular file`);
      const contentType = opts.contentType ?? contentTypeForFileName(file);
      if (!contentType) throw new ValidationError(`cannot tell the content type of ${file} from its extension; pass --content-type`);
      // An id given with --id is checked as given, and blamed as given; the file name is only the default.
      const artifactId = opts.id === undefined ? basename(file).replace(/\.[^.]*$/, '') : assertSafeId('--id', opts.id);
      if (opts.id === undefined && !/^[A-Za-z0-9._-]{1,128}$/.test(artifactId)) {
        throw new ValidationError(`the file name "${basename(file)}" is not a safe artifact id; pass --id with letters, digits, ".", "_" and "-"`);
      }
      const content = createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(progressStream(`put ${basename(file)}`, info.size, !output.json));
      const ref = await storage.storeArtifact({
        artifactId, artifactType: opts.type, contentType, content, size: info.size, tenantId: opts.tenant,
        visibility: opts.visibility as 'private' | 'public',
        ...(opts.board ? { boardId: opts.board } : {}), ...(opts.variant ? { variant: opts.variant } : {}),
        ...(opts.input.length ? { inputs: opts.input } : {}),
      });
      output.result(`stored ${ref.storageKey}\n  provider ${ref.storageProvider}, ${formatBytes(ref.size)}, sha256 ${ref.sha256}`, ref);
    }));
}
