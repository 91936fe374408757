// Runs every bench/*.bench.ts in its own process, one after another (they measure throughput and
// RSS, so they must not share a process or run at the same time). `npm run bench -- local` runs
// only the files whose name contains "local".
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(dir).filter((f) => f.endsWith('.bench.ts') && (filters.length === 0 || filters.some((x) => f.includes(x)))).sort();
let failed = 0;
for (const file of files) {
  console.log(`\n=== ${file}`);
  const result = spawnSync(process.execPath, ['--expose-gc', dir + file], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
console.log(failed ? `\n${failed} benchmark file(s) missed a target or failed` : '\nall benchmark targets met');
process.exitCode = failed ? 1 : 0;
