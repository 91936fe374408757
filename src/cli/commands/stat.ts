import type { Command } from 'commander';
import { formatBytes } from '../output.ts';
import type { CommandContext } from '../command-context.ts';

export function registerStat(program: Command, run: CommandContext): void {
  program.command('stat')
    .description("show an artifact's reference")
    .argument('<key>', 'storage key')
    .action((key: string) => run(async ({ storage, output }) => {
      const ref = await storage.getArtifact(key);
      const lines = [
        ref.storageKey,
        `  artifact    ${ref.artifactId} (${ref.artifactType}), variant ${ref.variant}`,
        `  tenant      ${ref.tenantId}${ref.boardId ? `, board ${ref.boardId}` : ''}`,
        `  provider    ${ref.storageProvider}`,
        `  content     ${ref.contentType}, ${formatBytes(ref.size)} (${ref.size} bytes)`,
        `  sha256      ${ref.sha256}`,
        `  visibility  ${ref.visibility}`,
        `  created     ${ref.createdAt}`,
        ...(Object.keys(ref.metadata).length ? [`  metadata    ${JSON.stringify(ref.metadata)}`] : []),
        ...(ref.inputs ?? []).map((l) => `  input       ${l.storageKey}${l.deleted ? ' (deleted)' : ''}`),
        ...(ref.outputs ?? []).map((l) => `  output      ${l.storageKey}${l.deleted ? ' (deleted)' : ''}`),
        ...(ref.outputsTruncated ? ['  outputs     more: boards-storage ls --input KEY --all'] : []),
      ];
      output.result(lines.join('\n'), ref);
    }));
}
