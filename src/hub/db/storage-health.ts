/**
 * What the hub does when SQLite cannot do its job. better-sqlite3 is synchronous, so every wait
 * for a lock held by another process (a backup, an admin's sqlite3 shell, `atrium token`) stalls
 * the whole event loop: one page waiting five seconds is every page waiting five seconds.
 *
 * - Busy (SQLITE_BUSY / SQLITE_LOCKED): after the first busy answer the busy timeout drops to zero
 *   for a back-off period, so later statements fail at once instead of each stalling the loop.
 *   Requests that must write get a catalogued 503 with Retry-After; bookkeeping writes (activity
 *   timestamps) are skipped, so they never fail a request that only reads.
 * - Storage gone (read-only, I/O error, corrupt, not a database): nothing the hub writes would be
 *   kept, so it logs one fatal line and stops (exit 1) for a supervisor to restart once the
 *   storage is back, instead of answering from a database it can no longer trust.
 */
import type Database from 'better-sqlite3';
import { atriumError, type AtriumError } from '../errors.js';
import { StorageWatch } from './storage-watch.js';

/** Normal wait for a lock: long enough for another process's short write, short enough not to stall. */
export const BUSY_TIMEOUT_MS = 100;
/** After a busy answer, statements fail fast for this long before waiting is tried again. */
export const BUSY_BACKOFF_MS = 2000;
const RETRY_AFTER_SECONDS = '5';

const FATAL = /^SQLITE_(READONLY|IOERR|CORRUPT|NOTADB|CANTOPEN)/;
const BUSY = /^SQLITE_(BUSY|LOCKED)/;

function sqliteCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

export const isBusyError = (err: unknown): boolean => BUSY.test(sqliteCode(err));
export const isStorageFatal = (err: unknown): boolean => FATAL.test(sqliteCode(err));

export class StorageHealth {
  /** Called once, on the first fatal storage error; the hub logs it and exits. */
  onFatal: ((err: Error) => void) | null = null;
  private busyUntil = 0;
  private restore: NodeJS.Timeout | null = null;
  private fatalSeen = false;

  constructor(private readonly db: Database.Database) {}

  /** Inspect an error thrown by SQLite (returned unchanged, for `throw health.seen(err)`). */
  seen(err: unknown): unknown {
    if (isBusyError(err)) this.noteBusy();
    else if (isStorageFatal(err) && !this.fatalSeen) {
      this.fatalSeen = true;
      this.onFatal?.(err as Error);
    }
    return err;
  }

  /** Told about storage problems SQLite would not report (see storage-watch.ts). */
  onWarning: ((message: string) => void) | null = null;
  private watcher: StorageWatch | null = null;

  /** Start watching the database files under `file`. */
  watch(file: string): void {
    this.watcher = new StorageWatch(file, (err) => this.seen(err), (m) => this.onWarning?.(m));
    this.watcher.start(() => this.db.open);
  }

  /** A cheap check of the files, rate-limited; call it before work that touches the database. */
  checkStorage(): void {
    this.watcher?.check();
  }

  /** True while another process is known to hold the lock (statements fail fast). */
  get busy(): boolean {
    return Date.now() < this.busyUntil;
  }

  /**
   * Run a write that only keeps records (last_activity and the like). While the database is busy
   * it is skipped; a busy answer is swallowed. Returns whether it ran.
   */
  bookkeeping(write: () => void): boolean {
    if (this.busy) return false;
    try {
      write();
      return true;
    } catch (err) {
      if (isBusyError(err)) return false;
      throw err;
    }
  }

  /** The HTTP answer for a database error, or null when `err` is not one. */
  httpError(err: unknown): AtriumError | null {
    if (isBusyError(err)) {
      this.noteBusy();
      return atriumError('ATRIUM_ERR_DB_BUSY', undefined, { headers: { 'Retry-After': RETRY_AFTER_SECONDS }, detail: sqliteCode(err) });
    }
    // A full disk is fixed by freeing space, not by a restart: answer 503 and keep running.
    if (isStorageFatal(err) || sqliteCode(err).startsWith('SQLITE_FULL')) {
      this.seen(err);
      return atriumError('ATRIUM_ERR_DB_UNAVAILABLE', undefined, { headers: { 'Retry-After': RETRY_AFTER_SECONDS }, detail: sqliteCode(err) });
    }
    return null;
  }

  private noteBusy(): void {
    this.busyUntil = Date.now() + BUSY_BACKOFF_MS;
    if (this.restore) return;
    this.setTimeout(0);
    this.restore = setTimeout(() => {
      this.restore = null;
      this.setTimeout(BUSY_TIMEOUT_MS);
    }, BUSY_BACKOFF_MS);
    this.restore.unref();
  }

  private setTimeout(ms: number): void {
    if (this.db.open) this.db.pragma(`busy_timeout = ${ms}`);
  }
}

const registry = new WeakMap<Database.Database, StorageHealth>();

/**
 * Attach a StorageHealth to `db` and route every statement's errors through it. `prepare` is
 * wrapped on the instance so the stores (and their statement cache) need no change.
 */
export function guardDatabase(db: Database.Database): StorageHealth {
  const health = new StorageHealth(db);
  registry.set(db, health);
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    const s = prepare(sql) as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const m of ['run', 'get', 'all', 'iterate'] as const) {
      const orig = s[m]!;
      s[m] = function guarded(...args: unknown[]) {
        try {
          return orig.apply(s, args);
        } catch (err) {
          throw health.seen(err);
        }
      };
    }
    return s;
  }) as unknown as Database.Database['prepare'];
  const transaction = db.transaction.bind(db);
  db.transaction = ((fn: (...a: unknown[]) => unknown) => {
    const t = transaction(fn);
    const guarded = (...args: unknown[]) => {
      try {
        return t(...args);
      } catch (err) {
        throw health.seen(err);
      }
    };
    return Object.assign(guarded, { deferred: t.deferred, immediate: t.immediate, exclusive: t.exclusive, default: t.default });
  }) as Database.Database['transaction'];
  return health;
}

export function storageHealth(db: Database.Database): StorageHealth {
  const h = registry.get(db);
  if (!h) throw new Error('database opened without guardDatabase');
  return h;
}
