import type { Db } from './database.js';

export interface SessionRow {
  id: string;
  user_id: number;
  session_id: string;
  created: string;
  expires_at: string;
}

export class SessionStore {
  constructor(private readonly db: Db) {}

  insert(row: SessionRow): void {
    this.db
      .prepare('INSERT INTO sessions (id, user_id, session_id, created, expires_at) VALUES (@id, @user_id, @session_id, @created, @expires_at)')
      .run(row);
  }

  get(id: string): SessionRow | undefined {
    return this.db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?').get(id);
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM sessions WHERE id = ?').run(id);
  }

  deleteExpired(nowIso: string): void {
    this.db.prepare('DELETE FROM sessions WHERE expires_at < ?').run(nowIso);
  }
}
