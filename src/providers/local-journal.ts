import { closeSync, constants, ftruncateSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Emptied, once nothing is in flight, past this many lines (about 100 KB of keys). */
const MAX_LINES = 1000;
/** Each process's journal: `~journal.{pid}`. */
const FILE_PREFIX = '~journal.';
/** The journal every process once shared, lines `{pid} {key}`: still read at open. */
const SHARED_FILE = '~journal';

/**
 * The keys of new objects being stored, each noted before its first file is made: a crash between
 * that and the row that makes the object visible (which comes after the rename) leaves files that
 * no row names, and this says where they are. A note is one write(2) to a file opened with
 * O_APPEND, no flush: a process crash loses none; a power loss may lose the last ones, which
 * leaves invisible files behind, never a visible object.
 *
 * Each process notes into a file of its own, `~journal.{pid}`, and empties only that one: several
 * processes storing into one base (`serve --workers`, the CLI beside the service) never drop each
 * other's lines. At open, the files of processes no longer running, and this pid's own from an
 * earlier life (a restarted container often gets the same pid), are what crashed stores left.
 */
export class LocalJournal {
  private readonly root: string;
  private readonly own: OwnFile;
  private closed = false;

  /** `root`: the base's directory, where the journal files are. */
  constructor(root: string) {
    this.root = root;
    const path = join(root, `${FILE_PREFIX}${process.pid}`);
    let own = openHere.get(path);
    if (!own) openHere.set(path, own = { path, fd: openSync(path, constants.O_CREAT | constants.O_RDWR | constants.O_APPEND, 0o600), lines: 0, inFlight: 0, users: 0 });
    own.users++;
    this.own = own;
  }

  /**
   * What crashed stores left: the keys noted by processes no longer running, or by this pid in an
   * earlier life. Call `clear` once their files are dealt with: it removes the journals read.
   * `live`: keys noted by processes still running, whose stores may be under way.
   */
  leftovers(): { keys: string[]; live: Set<string>; clear: () => void } {
    const live = new Set<string>();
    const keys: string[] = [];
    const done: string[] = [];
    let sharedInUse = false;
    for (const name of readdirSync(this.root)) {
      if (name === SHARED_FILE) {
        for (const line of readLines(join(this.root, name))) {
          const space = line.indexOf(' ');
          if (space < 1) continue;
          const pid = Number(line.slice(0, space));
          if (pid !== process.pid && isRunning(pid)) {
            sharedInUse = true;
            live.add(line.slice(space + 1));
          } else keys.push(line.slice(space + 1));
        }
        if (!sharedInUse) done.push(name);
      } else if (name.startsWith(FILE_PREFIX)) {
        const pid = Number(name.slice(FILE_PREFIX.length));
        if (!Number.isSafeInteger(pid) || pid <= 0) continue;
        // Another provider of this process on the same base: this pid's lines are its, and live.
        const running = pid === process.pid ? this.own.users > 1 : isRunning(pid);
        if (running) {
          for (const key of readLines(join(this.root, name))) live.add(key);
          continue;
        }
        keys.push(...readLines(join(this.root, name)));
        if (pid !== process.pid) done.push(name);
      }
    }
    return {
      keys,
      live,
      clear: () => {
        for (const name of done) rmSync(join(this.root, name), { force: true });
        if (this.own.users === 1) this.empty();
      },
    };
  }

  note(key: string): void {
    // Counted first: a write that fails is still settled by the caller (see done).
    this.own.inFlight++;
    this.own.lines++;
    writeSync(this.own.fd, `${key}\n`);
  }

  /** One noted key is settled (its row written, or its files gone); once none is in flight, a long file is emptied. */
  done(): void {
    this.own.inFlight = Math.max(0, this.own.inFlight - 1);
    if (this.own.inFlight === 0 && this.own.lines >= MAX_LINES) this.empty();
  }

  private empty(): void {
    ftruncateSync(this.own.fd, 0);
    this.own.lines = 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (--this.own.users > 0) return;
    openHere.delete(this.own.path);
    closeSync(this.own.fd);
    // Nothing in flight: nothing for the next start to do. Kept otherwise (a store still running at close).
    if (this.own.inFlight === 0) rmSync(this.own.path, { force: true });
  }
}

/** This process's journal file of one base, shared by the providers of this process that use the base. */
interface OwnFile {
  path: string;
  fd: number;
  lines: number;
  /** Keys noted and not yet settled, by any of this process's providers on the base. */
  inFlight: number;
  users: number;
}

const openHere = new Map<string, OwnFile>();

function readLines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((line) => line !== '');
  } catch (error) {
    // Removed by another process starting at the same time: it has dealt with those keys.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
