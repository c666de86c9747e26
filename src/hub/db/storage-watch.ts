/**
 * Notices storage going bad before SQLite touches it. The WAL index (-shm) is mapped shared into
 * every connection and cannot be given up without locking every other process (`atrium token`,
 * backups) out of the database. When that file is made immutable, lands on a filesystem gone
 * read-only, or is truncated or replaced under the hub (a restore, a tool ignoring our locks),
 * the next access to the mapping is a SIGBUS: the process dies without a word and SQLite never
 * returns an error. Measured here: `chattr +i` on the database files and `truncate` of -shm both
 * kill an unguarded hub with SIGBUS at its next database access.
 *
 * So the files are checked (access(W_OK) — which reports immutable files and read-only
 * filesystems even to root — and the -shm inode and size) on a short timer and before requests,
 * at most every CHECK_MS. This narrows the window, it cannot close it: a background database
 * access in the same instant still meets the SIGBUS, and the supervisor restarts the hub.
 */
import { accessSync, constants, statSync } from 'node:fs';

const CHECK_MS = 250;

export class StorageWatch {
  private lastCheck = 0;
  private shm: { ino: number; size: number } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private warnedAccess = false;

  constructor(
    private readonly file: string,
    /** Called with the first failure found; the watch stops. */
    private readonly fail: (err: Error & { code: string }) => void,
    private readonly warn: (message: string) => void,
  ) {}

  start(isOpen: () => boolean): void {
    this.timer = setInterval(() => (isOpen() ? this.check(true) : this.stop()), CHECK_MS);
    this.timer.unref();
    this.check(true);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Check now, or only if the last check is older than CHECK_MS (`force` false: cheap to call per request). */
  check(force = false): void {
    if (!this.timer) return;
    const t = Date.now();
    if (!force && t - this.lastCheck < CHECK_MS) return;
    this.lastCheck = t;
    const problem = this.shmProblem() ?? this.accessProblem();
    if (problem) {
      this.stop();
      this.fail(Object.assign(new Error(problem.message), { code: problem.code }));
    }
  }

  private shmProblem(): { code: string; message: string } | null {
    const shm = `${this.file}-shm`;
    let now: { ino: number; size: number } | null = null;
    try {
      const st = statSync(shm);
      now = { ino: st.ino, size: st.size };
    } catch {
      /* gone: judged below against what we saw before */
    }
    const last = this.shm;
    this.shm = now;
    if (!last) return null;
    const what = !now ? 'was removed' : now.ino !== last.ino ? 'was replaced' : now.size < last.size ? 'was truncated' : null;
    return what ? { code: 'SQLITE_IOERR_SHMMAP', message: `the database's shared-memory file ${shm} ${what} underneath the hub` } : null;
  }

  private accessProblem(): { code: string; message: string } | null {
    for (const f of [this.file, `${this.file}-wal`, `${this.file}-shm`]) {
      try {
        accessSync(f, constants.W_OK);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EROFS' || code === 'EPERM') {
          return { code: 'SQLITE_READONLY', message: `${f} cannot be written any more (${code === 'EROFS' ? 'read-only filesystem' : 'immutable or not permitted'})` };
        }
        // Open files keep working after a chmod; the next start would fail, so say so once.
        if (code === 'EACCES' && !this.warnedAccess) {
          this.warnedAccess = true;
          this.warn(`${f} is no longer writable by the hub's user; the running hub keeps its open files, but it will not start again like this`);
        }
      }
    }
    return null;
  }
}
