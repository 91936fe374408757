import type { Command } from 'commander';
import { ValidationError } from '../../errors.ts';
import { parseDuration, parseSize } from '../../config/sizes.ts';
import { finalizeMigration, listMigrations, migrationStatus, resumeMigration, rollbackMigration } from '../../operations/migrate.ts';
import type { MigrationJob, MigrationReport } from '../../operations/migrate.ts';
import { formatBytes, table } from '../output.ts';
import type { CliOutput } from '../output.ts';
import { jobProgressBar } from '../progress.ts';
import type { CommandContext } from '../command-context.ts';

interface MigrateFlags {
  from: string;
  to: string;
  tenant?: string;
  board?: string;
  type?: string;
  olderThan?: string;
  largerThan?: string;
  concurrency: string;
  dryRun?: boolean;
}

export function registerMigrate(program: Command, run: CommandContext): void {
  const migrate = program.command('migrate')
    .description('move artifacts from one provider to another: streamed, verified against their SHA-256, resumable; sources kept until `migrate finalize ID`')
    .option('--from <provider>', 'the provider the artifacts are on')
    .option('--to <provider>', 'the provider to move them to')
    .option('--tenant <tenantId>', 'only this tenant')
    .option('-b, --board <boardId>', 'only this board')
    .option('-t, --type <artifactType>', 'only this artifact type')
    .option('--older-than <duration>', 'only artifacts created longer ago: 30d, 12h')
    .option('--larger-than <size>', 'only artifacts larger than this: 10MB')
    .option('--concurrency <n>', 'artifacts copied at once', '8')
    .option('--dry-run', 'count what would move, move nothing')
    .action((opts: MigrateFlags) => run(async ({ storage, output }) => {
      if (!opts.from || !opts.to) throw new ValidationError('say where from and where to: migrate --from PROVIDER --to PROVIDER');
      const job = storage.migrate({
        from: opts.from, to: opts.to, concurrency: Number(opts.concurrency), dryRun: Boolean(opts.dryRun),
        ...(opts.tenant ? { tenantId: opts.tenant } : {}), ...(opts.board ? { boardId: opts.board } : {}), ...(opts.type ? { artifactType: opts.type } : {}),
        ...(opts.olderThan ? { olderThanSeconds: parseDuration(opts.olderThan, '--older-than') } : {}),
        ...(opts.largerThan ? { largerThan: parseSize(opts.largerThan, '--larger-than') } : {}),
      });
      printReport(output, await withProgress(job, output, `migrate ${opts.from} -> ${opts.to}`));
    }));

  migrate.command('status')
    .description('a migration\'s report; without an id, every migration (an interrupted one shows as interrupted)')
    .argument('[id]', 'migration id')
    .action((id: string | undefined) => run(async ({ storage, output }) => {
      if (id) {
        printReport(output, await migrationStatus(storage, id));
        return;
      }
      const reports = await listMigrations(storage);
      output.result(reports.length ? table([['ID', 'STATUS', 'FROM', 'TO', 'VERIFIED', 'FAILED', 'TOTAL', 'CREATED'], ...reports.map((r) => [r.id, r.status, r.from, r.to, String(r.counts.verified), String(r.counts.failed), String(r.counts.total), r.createdAt])]) : 'no migrations', reports);
    }));

  migrate.command('resume')
    .description('finish an interrupted migration (failed artifacts are tried again)')
    .argument('<id>', 'migration id')
    .action((id: string) => run(async ({ storage, output }) => {
      printReport(output, await withProgress(resumeMigration(storage, id), output, `migrate ${id}`));
    }));

  migrate.command('finalize')
    .description('delete the source copies of the artifacts that were verified and switched')
    .argument('<id>', 'migration id')
    .action((id: string) => run(async ({ storage, output }) => printReport(output, await finalizeMigration(storage, id))));

  migrate.command('rollback')
    .description('point the artifacts back at their sources and remove the destination copies')
    .argument('<id>', 'migration id')
    .action((id: string) => run(async ({ storage, output }) => printReport(output, await rollbackMigration(storage, id, 'cli'))));
}

async function withProgress(job: MigrationJob, output: CliOutput, label: string): Promise<MigrationReport> {
  const bar = jobProgressBar(label, !output.json);
  const drawing = (async () => {
    for await (const p of job) bar.update(p.done, p.total, p.bytes);
  })();
  try {
    return await job;
  } finally {
    await drawing.catch(() => undefined); // the job's outcome is the answer; a bar that failed to draw changes nothing
    bar.stop();
  }
}

/** `--json`: exactly the report's shape; the exit code says whether everything moved. */
function printReport(output: CliOutput, report: MigrationReport): void {
  const { id, status, counts, bytes, failures } = report;
  const lines = [`migration ${id}: ${status} (${report.from} -> ${report.to})`, `  ${counts.verified} of ${counts.total} artifacts verified on the destination, ${counts.skipped} skipped, ${counts.failed} failed; ${formatBytes(bytes)}`];
  for (const f of failures) lines.push(`  failed: ${f.storageKey}: ${f.reason}`);
  output.result(lines.join('\n'), { id, status, counts, bytes, failures });
  if (status === 'partial' || status === 'interrupted' || counts.failed > 0) process.exitCode = 1;
}
