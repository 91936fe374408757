import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { fromFsError } from '../../errors.ts';
import type { BoardSummary } from '../../boards/board-list.ts';
import { formatBytes, table } from '../output.ts';
import { jobProgressBar, progressStream } from '../progress.ts';
import type { CommandContext } from '../command-context.ts';

const TENANT = ['--tenant <tenantId>', 'tenant id', 'default'] as const;

/** `boards ls | rm | cp | get`: a tenant's boards, whole. */
export function registerBoards(program: Command, run: CommandContext): void {
  const boards = program.command('boards').description("a tenant's boards: list, delete (to the trash), copy, download as zip");

  boards.command('ls')
    .description('list boards with their artifact count, bytes, last activity and cover')
    .option(...TENANT)
    .option('--limit <n>', 'boards per page', (v) => Number(v), 100)
    .option('--cursor <cursor>', 'continue from a previous page')
    .option('--all', 'follow the cursor to the end')
    .action((opts: { tenant: string; limit: number; cursor?: string; all?: boolean }) => run(async ({ storage, output }) => {
      const items: BoardSummary[] = [];
      let cursor = opts.cursor;
      do {
        const page = await storage.listBoards({ tenantId: opts.tenant, limit: opts.limit, ...(cursor ? { cursor } : {}) });
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (opts.all && cursor);
      const rows = [['BOARD', 'ARTIFACTS', 'SIZE', 'LAST ACTIVITY', 'COVER'], ...items.map((b) => [b.boardId, String(b.artifacts), formatBytes(b.bytes), b.lastActivity, b.cover?.storageKey ?? '-'])];
      const human = items.length === 0 ? 'no boards' : table(rows) + (cursor ? `\nmore: --cursor ${cursor}` : '');
      output.result(human, { items, ...(cursor ? { nextCursor: cursor } : {}) });
    }));

  boards.command('rm')
    .description('delete every artifact of a board (to the trash when there is one: `trash_retention`)')
    .argument('<board>', 'board id')
    .option(...TENANT)
    .action((board: string, opts: { tenant: string }) => run(async ({ storage, output }) => {
      const result = await storage.deleteBoard(board, { tenantId: opts.tenant, actor: 'cli' });
      output.result(`deleted ${result.deleted} artifacts of board ${result.boardId}${result.trashed ? ' (in the trash: restore each with POST /v1/trash/{key}/restore until trash_retention passes)' : ''}`, result);
    }));

  boards.command('cp')
    .description('copy a board, variants included, to a new board (server-side copies where the backend has them, each checked against its SHA-256)')
    .argument('<board>', 'board id')
    .option('--to <newBoard>', 'the new board id (default: {board}-copy-{8 hex}); it must have no artifacts yet')
    .option(...TENANT)
    .action((board: string, opts: { tenant: string; to?: string }) => run(async ({ storage, output }) => {
      const total = (await storage.listBoards({ tenantId: opts.tenant, limit: 1000 })).items.find((b) => b.boardId === board)?.artifacts ?? 0;
      const bar = jobProgressBar(`cp ${board}`, !output.json);
      try {
        const result = await storage.copyBoard(board, {
          tenantId: opts.tenant, actor: 'cli', ...(opts.to ? { toBoardId: opts.to } : {}),
          onProgress: ({ artifacts, bytes }) => bar.update(artifacts, Math.max(total, artifacts), bytes),
        });
        bar.stop();
        output.result(`copied ${result.copied} artifacts (${result.variants} variants, ${formatBytes(result.bytes)}, ${result.serverSide} copied server-side) from ${result.boardId} to ${result.toBoardId}`, result);
      } finally {
        bar.stop();
      }
    }));

  boards.command('get')
    .description('download a board (or a selection) as a zip with manifest.json; every artifact is checked against its SHA-256 on the way')
    .argument('<board>', 'board id')
    .requiredOption('-o, --output <file>', 'the zip to write; it appears only when complete')
    .option('-t, --type <artifactType>', 'only artifacts of this type')
    .option('--id <artifactId...>', 'only artifacts with these ids')
    .option('--key <storageKey...>', 'only these storage keys of the board')
    .option(...TENANT)
    .action((board: string, opts: { tenant: string; output: string; type?: string; id?: string[]; key?: string[] }) => run(async ({ storage, output }) => {
      const archive = await storage.openBoardArchive(board, {
        tenantId: opts.tenant, ...(opts.type ? { artifactType: opts.type } : {}), ...(opts.id ? { artifactIds: opts.id } : {}), ...(opts.key ? { storageKeys: opts.key } : {}),
      });
      const temp = join(dirname(opts.output), `.${basename(opts.output)}.${randomUUID().slice(0, 8)}.part`);
      try {
        await pipeline(archive.stream, progressStream(`get ${basename(opts.output)}`, archive.size, !output.json), createWriteStream(temp, { flags: 'wx' }));
        await rename(temp, opts.output);
      } catch (error) {
        await rm(temp, { force: true });
        throw fromFsError(error, opts.output);
      }
      const { manifest } = archive;
      output.result(`wrote ${opts.output}: ${manifest.count} artifacts of board ${manifest.boardId}, ${formatBytes(archive.size ?? manifest.bytes)} (sha256 verified)`, { file: opts.output, boardId: manifest.boardId, count: manifest.count, bytes: manifest.bytes, size: archive.size, artifacts: manifest.artifacts.map((a) => ({ file: a.file, storageKey: a.storageKey, sha256: a.sha256, size: a.size })) });
    }));
}
