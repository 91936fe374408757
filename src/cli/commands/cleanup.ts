import type { Command } from 'commander';
import { ValidationError } from '../../errors.ts';
import { parseDuration } from '../../config/sizes.ts';
import { sweepExpired } from '../../lifecycle/expiry-sweep.ts';
import { applyRetention } from '../../lifecycle/retention.ts';
import { findOrphans } from '../../lifecycle/orphans.ts';
import { formatBytes, table } from '../output.ts';
import type { CommandContext } from '../command-context.ts';

export function registerCleanup(program: Command, run: CommandContext): void {
  program.command('cleanup')
    .description('remove expired temporary files and uploads and purge the trash past trash_retention (--temp), apply a retention age (--older-than), or find orphans (--orphans)')
    .option('--temp', 'delete temporary files past their TTL and presigned uploads never completed')
    .option('--older-than <duration>', 'delete artifacts created longer ago than this: 30d, 12h, 2w')
    .option('-t, --type <artifactType>', 'with --older-than: only this artifact type')
    .option('--tenant <tenantId>', 'with --older-than: only this tenant')
    .option('--dry-run', 'with --older-than: list what would be deleted, delete nothing')
    .option('--orphans', 'report objects the catalog does not know and records whose object is gone')
    .option('--fix', 'with --orphans: delete unrecorded objects and remove records of missing ones')
    .action((opts: { temp?: boolean; olderThan?: string; type?: string; tenant?: string; dryRun?: boolean; orphans?: boolean; fix?: boolean }) => run(async ({ storage, output }) => {
      if (!opts.temp && !opts.olderThan && !opts.orphans) throw new ValidationError('say what to clean: --temp, --older-than DURATION or --orphans');
      const results: Record<string, unknown> = {};
      const lines: string[] = [];
      if (opts.temp) {
        const sweep = await sweepExpired(storage);
        results.temp = sweep;
        lines.push(sweep.ran ? `expired: ${sweep.expiredArtifacts} temporary files and ${sweep.expiredUploads} uploads removed, ${sweep.purgedFromTrash} deleted artifacts purged from the trash${sweep.failures.length ? `; ${sweep.failures.length} objects could not be removed (see --orphans)` : ''}` : 'expired: another process is sweeping; nothing done');
      }
      if (opts.olderThan) {
        const retention = await applyRetention(storage, { olderThanSeconds: parseDuration(opts.olderThan, '--older-than'), ...(opts.type ? { artifactType: opts.type } : {}), ...(opts.tenant ? { tenantId: opts.tenant } : {}), dryRun: Boolean(opts.dryRun) });
        results.retention = retention;
        if (retention.dryRun && retention.matched.length) lines.push(table([['WOULD DELETE', 'SIZE', 'CREATED'], ...retention.matched.map((m) => [m.storageKey, formatBytes(m.size), m.createdAt])]));
        lines.push(retention.dryRun
          ? `retention: ${retention.matched.length} artifacts (${formatBytes(retention.bytes)}) are older than ${opts.olderThan}; nothing deleted (dry run)`
          : `retention: ${retention.deleted} artifacts (${formatBytes(retention.bytes)}) older than ${opts.olderThan} deleted`);
      }
      if (opts.orphans) {
        const orphans = await findOrphans(storage, { fix: Boolean(opts.fix) });
        results.orphans = orphans;
        for (const o of orphans.unrecordedObjects) lines.push(`unrecorded object  ${o.provider}  ${o.key}`);
        for (const m of orphans.missingObjects) lines.push(`missing object     ${m.provider}  ${m.key}`);
        lines.push(`orphans: ${orphans.unrecordedObjects.length} unrecorded objects, ${orphans.missingObjects.length} records without an object${opts.fix ? `; ${orphans.fixed} fixed` : ''}`);
      }
      output.result(lines.join('\n'), results);
    }));
}
