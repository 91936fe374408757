import { Transform } from 'node:stream';
import cliProgress from 'cli-progress';
import { formatBytes } from './output.ts';

/**
 * A byte-counting pass-through that draws a progress bar on stderr when it is a terminal, and
 * does nothing otherwise (pipes, CI, --json).
 */
export function progressStream(label: string, total: number | undefined, enabled: boolean): Transform {
  const bar = enabled && process.stderr.isTTY
    ? new cliProgress.SingleBar({
      format: `${label} [{bar}] {percentage}% | {done} of {size} | {speed}/s`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    }, cliProgress.Presets.shades_classic)
    : undefined;
  const started = Date.now();
  let done = 0;
  const payload = () => ({ done: formatBytes(done), size: total === undefined ? '?' : formatBytes(total), speed: formatBytes(done / Math.max((Date.now() - started) / 1000, 0.001)) });
  bar?.start(total ?? 0, 0, payload());
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length;
      bar?.update(done, payload());
      callback(null, chunk);
    },
    flush(callback) {
      bar?.update(done, payload());
      bar?.stop();
      callback();
    },
    destroy(error, callback) {
      bar?.stop();
      callback(error);
    },
  });
}

export interface JobProgressBar {
  /** Artifacts done of `total`, and bytes moved so far. */
  update(done: number, total: number, bytes: number): void;
  stop(): void;
}

/**
 * A bar for a job over many artifacts (migrate, backup, restore): artifacts, bytes, rate and ETA,
 * on stderr when it is a terminal; nothing otherwise.
 */
export function jobProgressBar(label: string, enabled: boolean): JobProgressBar {
  if (!enabled || !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {value}/{total} artifacts | {bytes} | {rate}/s | ETA {eta_formatted}`,
    stream: process.stderr,
    hideCursor: true,
    etaBuffer: 50,
  }, cliProgress.Presets.shades_classic);
  const started = Date.now();
  let running = false;
  return {
    update(done, total, bytes) {
      const payload = { bytes: formatBytes(bytes), rate: formatBytes(bytes / Math.max((Date.now() - started) / 1000, 0.001)) };
      if (!running) {
        bar.start(total, done, payload);
        running = true;
      } else {
        bar.setTotal(total);
        bar.update(done, payload);
      }
    },
    stop() {
      if (running) bar.stop();
    },
  };
}

/**
 * A progress bar over a count of items (artifacts) on stderr when it is a terminal; nothing
 * otherwise. `total` may be an estimate; the bar stops at it.
 */
export function progressBar(label: string, total: number | undefined, enabled: boolean): { update(done: number, bytes: number): void; stop(): void } {
  const bar = enabled && process.stderr.isTTY
    ? new cliProgress.SingleBar({
      format: `${label} [{bar}] {value} of {total} | {read} read`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    }, cliProgress.Presets.shades_classic)
    : undefined;
  bar?.start(total ?? 0, 0, { read: formatBytes(0) });
  return {
    update(done, bytes) {
      if (total !== undefined && done > total) bar?.setTotal(done);
      bar?.update(done, { read: formatBytes(bytes) });
    },
    stop() {
      bar?.stop();
    },
  };
}
