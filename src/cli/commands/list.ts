import type { Command } from 'commander';
import { formatBytes, table } from '../output.ts';
import type { CommandContext } from '../command-context.ts';
import type { ArtifactReference } from '../../manager/artifact-reference.ts';

export function registerList(program: Command, run: CommandContext): void {
  program.command('ls')
    .description("list a tenant's artifacts in key order")
    .option('--tenant <tenantId>', 'tenant id', 'default')
    .option('-b, --board <boardId>', 'only this board')
    .option('-t, --type <artifactType>', 'only this artifact type')
    .option('--id <artifactId>', 'only artifacts with this artifact id')
    .option('--input <key>', 'lineage: only the artifacts made from this one')
    .option('--prefix <prefix>', 'only keys below the tenant that start with this')
    .option('--limit <n>', 'artifacts per page', (v) => Number(v), 100)
    .option('--cursor <cursor>', 'continue from a previous page')
    .option('--all', 'follow the cursor to the end')
    .action((opts: { tenant: string; board?: string; type?: string; id?: string; input?: string; prefix?: string; limit: number; cursor?: string; all?: boolean }) => run(async ({ storage, output }) => {
      const items: ArtifactReference[] = [];
      let cursor = opts.cursor;
      do {
        const page = await storage.listArtifacts({ tenantId: opts.tenant, limit: opts.limit, ...(opts.board ? { boardId: opts.board } : {}), ...(opts.type ? { artifactType: opts.type } : {}), ...(opts.id ? { artifactId: opts.id } : {}), ...(opts.input ? { input: opts.input } : {}), ...(opts.prefix ? { prefix: opts.prefix } : {}), ...(cursor ? { cursor } : {}) });
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (opts.all && cursor);
      const rows = [['KEY', 'SIZE', 'TYPE', 'PROVIDER', 'CREATED'], ...items.map((i) => [i.storageKey, formatBytes(i.size), i.contentType, i.storageProvider, i.createdAt])];
      const human = items.length === 0 ? 'no artifacts' : table(rows) + (cursor ? `\nmore: --cursor ${cursor}` : '');
      output.result(human, { items, ...(cursor ? { nextCursor: cursor } : {}) });
    }));
}
