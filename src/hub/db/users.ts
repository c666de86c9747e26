import type { Db } from './database.js';
import { now, statementCache } from './database.js';

export interface UserRow {
  id: number;
  name: string;
  admin: number;
  created: string;
  last_activity: string | null;
  auth_state: Buffer | null;
}

export class UserStore {
  private readonly byName;
  private readonly byId;
  private readonly q: Db['prepare'];
  constructor(db: Db) {
    this.q = statementCache(db);
    this.byName = db.prepare<[string], UserRow>('SELECT * FROM users WHERE name = ?');
    this.byId = db.prepare<[number], UserRow>('SELECT * FROM users WHERE id = ?');
  }

  get(name: string): UserRow | undefined {
    return this.byName.get(name);
  }

  getById(id: number): UserRow | undefined {
    return this.byId.get(id);
  }

  list(opts: { nameFilter?: string; offset?: number; limit?: number } = {}): UserRow[] {
    const filter = opts.nameFilter ? `%${opts.nameFilter.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%` : '%';
    return this.q<[string, number, number], UserRow>(
        "SELECT * FROM users WHERE lower(name) LIKE ? ESCAPE '\\' ORDER BY id LIMIT ? OFFSET ?",
      )
      .all(filter, opts.limit ?? -1, opts.offset ?? 0);
  }

  count(): number {
    return (this.q('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  }

  create(name: string, admin = false): UserRow {
    this.q('INSERT INTO users (name, admin, created) VALUES (?, ?, ?)').run(name, admin ? 1 : 0, now());
    return this.get(name)!;
  }

  ensure(name: string): { user: UserRow; created: boolean } {
    const existing = this.get(name);
    if (existing) return { user: existing, created: false };
    return { user: this.create(name), created: true };
  }

  setAdmin(id: number, admin: boolean): void {
    this.q('UPDATE users SET admin = ? WHERE id = ?').run(admin ? 1 : 0, id);
  }

  rename(id: number, name: string): void {
    this.q('UPDATE users SET name = ? WHERE id = ?').run(name, id);
  }

  setAuthState(id: number, blob: Buffer | null): void {
    this.q('UPDATE users SET auth_state = ? WHERE id = ?').run(blob, id);
  }

  /** Only moves forward, as JupyterHub does. */
  touch(id: number, when: string): void {
    this.q('UPDATE users SET last_activity = ? WHERE id = ? AND (last_activity IS NULL OR last_activity < ?)')
      .run(when, id, when);
  }

  delete(id: number): void {
    this.q('DELETE FROM users WHERE id = ?').run(id);
  }
}
