import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';

/** Emptied, once nothing is in flight, past this many lines (about 100 KB of keys). */
const MAX_LINES = 1000;

/**
 * The keys of new objects being stored, each noted before its first file is made: a crash between
 * that and the row that makes the object visible (which comes after the rename) leaves files that
 * no row names, and this says where they are. A note is one write(2) to a file opened with
 * O_APPEND, no flush: a process crash loses none; a power loss may lose the last ones, which
 * leaves invisible files behind, never a visible object. Lines are `{pid} {key}`, so a process
 * starting while another stores into the same base leaves that one's files alone.
 */
export class LocalJournal {
  private readonly path: string;
  private readonly fd: number;
  private lines = 0;
  private closed = false;

  constructor(path: string) {
    this.path = path;
    this.fd = openSync(path, constants.O_CREAT | constants.O_RDWR | constants.O_APPEND, 0o600);
    openHere.set(path, (openHere.get(path) ?? 0) + 1);
  }

  /** What crashed stores left: keys noted by this process id in an earlier life or by a process no longer running. */
  leftovers(): { keys: string[]; othersRunning: boolean } {
    // Another provider of this process on the same base: its lines are of this pid, and live.
    if (openHere.get(this.path)! > 1) return { keys: [], othersRunning: true };
    const keys: string[] = [];
    let othersRunning = false;
    for (const line of readFileSync(this.fd, 'utf8').split('\n')) {
      const space = line.indexOf(' ');
      if (space < 1) continue;
      const pid = Number(line.slice(0, space));
      if (pid !== process.pid && isRunning(pid)) othersRunning = true;
      else keys.push(line.slice(space + 1));
    }
    return { keys, othersRunning };
  }

  note(key: string): void {
    writeSync(this.fd, `${process.pid} ${key}\n`);
    this.lines++;
  }

  /** Nothing of this process is in flight: every line is settled, so the file may be emptied. */
  settled(): void {
    if (this.lines >= MAX_LINES) this.clear();
  }

  clear(): void {
    ftruncateSync(this.fd, 0);
    this.lines = 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    const open = openHere.get(this.path)! - 1;
    if (open === 0) openHere.delete(this.path);
    else openHere.set(this.path, open);
  }
}

/** How many providers of this process have each journal open. */
const openHere = new Map<string, number>();

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
