import type { VerifyReport } from './verify.ts';

/** Whether every problem found was repaired: what `verify`'s exit code reports. (Apart from verify.ts so the package root can export it without loading the scrub.) */
export function allGood(report: VerifyReport): boolean {
  return report.problems.every((p) => p.repaired === true);
}
