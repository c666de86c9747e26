/**
 * Opens the hub database (better-sqlite3, WAL) and brings its schema up to date. The database is
 * the source of truth: proxy routes and running servers are derived from it.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrations } from './migrations.js';
import { BUSY_TIMEOUT_MS, guardDatabase, storageHealth } from './storage-health.js';
import { createPrivateFile, tightenFile } from '../private-files.js';

export type Db = Database.Database;

/** The database and the files SQLite keeps beside it in WAL mode. */
export const DB_FILE_SUFFIXES = ['', '-wal', '-shm'] as const;

export function openDatabase(file: string): Db {
  const onDisk = file !== ':memory:';
  if (onDisk) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // SQLite creates -wal and -shm with the database file's mode, so a private main file keeps
    // all three private; files from an older install are tightened here.
    createPrivateFile(file);
    for (const suffix of DB_FILE_SUFFIXES) tightenFile(file + suffix);
  }
  const db = new Database(file);
  guardDatabase(db);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('synchronous = NORMAL');
  // The database file is read with read(2), never mapped: a mapped file that shrinks or becomes
  // unreadable underneath kills the process with SIGBUS instead of returning an error.
  db.pragma('mmap_size = 0');
  migrate(db);
  if (onDisk) {
    for (const suffix of DB_FILE_SUFFIXES) tightenFile(file + suffix);
    storageHealth(db).watch(file);
  }
  return db;
}

export function migrate(db: Db): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied TEXT NOT NULL)');
  const done = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version),
  );
  let applied = 0;
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
    })();
    applied++;
  }
  return applied;
}

/**
 * `prepare` that compiles each SQL text once. Preparing on every call cost ~15% of the hub's CPU
 * per API request (bench/hub); the SQL texts are a small fixed set, so the cache stays small.
 */
export function statementCache(db: Db): Db['prepare'] {
  const cache = new Map<string, Database.Statement>();
  return ((sql: string) => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare(sql);
      cache.set(sql, s);
    }
    return s;
  }) as Db['prepare'];
}

/** Timestamps are ISO 8601 UTC with a Z, as the JupyterHub API writes them. */
export const now = (): string => new Date().toISOString();
