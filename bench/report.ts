/** Shared by the benchmarks: medians, RSS sampling and the one result-line format. */

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Print `RESULT name: candidate X unit, baseline Y unit, ratio R (target >= T) PASS|FAIL`; returns whether it passed. */
export function reportRatio(name: string, candidate: number, baseline: number, unit: string, target: number): boolean {
  const ratio = candidate / baseline;
  const pass = ratio >= target;
  console.log(`RESULT ${name}: candidate ${candidate.toFixed(1)} ${unit}, baseline ${baseline.toFixed(1)} ${unit}, ratio ${ratio.toFixed(2)} (target >= ${target}) ${pass ? 'PASS' : 'FAIL'}`);
  if (!pass) process.exitCode = 1;
  return pass;
}

export function reportLimit(name: string, value: number, unit: string, limit: number): boolean {
  const pass = value < limit;
  console.log(`RESULT ${name}: ${value.toFixed(1)} ${unit} (target < ${limit}) ${pass ? 'PASS' : 'FAIL'}`);
  if (!pass) process.exitCode = 1;
  return pass;
}

/** Samples RSS every few milliseconds while `run` runs; returns its result and the peak in MB. */
export async function withPeakRss<T>(run: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 10);
  try {
    const result = await run();
    peak = Math.max(peak, process.memoryUsage().rss);
    return { result, peakMb: peak / 1e6 };
  } finally {
    clearInterval(timer);
  }
}

export async function timed(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return (performance.now() - started) / 1000;
}

export const MiB = 1024 * 1024;
