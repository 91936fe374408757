import { StorageError } from '../errors.ts';

/** What every command writes to: stdout for results, stderr for progress and errors. */
export interface CliOutput {
  json: boolean;
  result(human: string, machine: unknown): void;
  error(error: unknown): void;
}

export function createOutput(json: boolean, stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): CliOutput {
  return {
    json,
    result(human, machine) {
      stdout.write(json ? JSON.stringify(machine, null, 2) + '\n' : human + (human.endsWith('\n') ? '' : '\n'));
    },
    error(error) {
      const code = error instanceof StorageError ? error.code : 'ERROR';
      const message = error instanceof Error ? error.message : String(error);
      if (json) stderr.write(JSON.stringify({ error: { code, message } }) + '\n');
      else stderr.write(`boards-storage: ${code}: ${message}\n`);
    },
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** Fixed-width columns for terminal tables. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}
