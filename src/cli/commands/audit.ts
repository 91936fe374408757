import type { Command } from 'commander';
import { ValidationError } from '../../errors.ts';
import { table } from '../output.ts';
import type { CommandContext } from '../command-context.ts';
import type { AuditEntry } from '../../catalog/audit-records.ts';

export function registerAudit(program: Command, run: CommandContext): void {
  program.command('audit')
    .description("show a tenant's audit trail, newest first")
    .option('--tenant <tenantId>', 'tenant id', 'default')
    .option('-k, --key <storageKey>', 'only this artifact\'s events')
    .option('-b, --board <boardId>', 'only this board\'s events')
    .option('--since <time>', 'events at or after this time (ISO 8601)')
    .option('--until <time>', 'events before this time (ISO 8601)')
    .option('--limit <n>', 'events per page', (v) => Number(v), 100)
    .option('--cursor <cursor>', 'continue from a previous page')
    .option('--all', 'follow the cursor to the end')
    .action((opts: { tenant: string; key?: string; board?: string; since?: string; until?: string; limit: number; cursor?: string; all?: boolean }) => run(async ({ storage, output }) => {
      const items: AuditEntry[] = [];
      let cursor = opts.cursor;
      do {
        const page = await storage.listAudit({
          tenantId: opts.tenant, limit: opts.limit,
          ...(opts.key ? { storageKey: opts.key } : {}), ...(opts.board ? { boardId: opts.board } : {}),
          ...(opts.since ? { since: time('--since', opts.since) } : {}), ...(opts.until ? { until: time('--until', opts.until) } : {}),
          ...(cursor ? { cursor } : {}),
        });
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (opts.all && cursor);
      const rows = [['AT', 'ACTION', 'ACTOR', 'KEY'], ...items.map((e) => [e.at, e.action, e.actor ?? '-', e.storageKey])];
      const human = items.length === 0 ? 'no events' : table(rows) + (cursor ? `\nmore: --cursor ${cursor}` : '');
      output.result(human, { items, ...(cursor ? { nextCursor: cursor } : {}) });
    }));
}

function time(flag: string, value: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new ValidationError(`${flag} must be a time in ISO 8601 (2026-01-31T12:00:00Z), not "${value}"`);
  return date;
}
