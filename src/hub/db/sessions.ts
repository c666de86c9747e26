import type { Db } from './database.js';
import { statementCache } from './database.js';

export interface SessionRow {
  id: string;
  user_id: number;
  session_id: string;
  created: string;
  expires_at: string;
}

export class SessionStore {
  private readonly q: Db['prepare'];
  constructor(db: Db) {
    this.q = statementCache(db);
  }

  insert(row: SessionRow): void {
    this.q('INSERT INTO sessions (id, user_id, session_id, created, expires_at) VALUES (@id, @user_id, @session_id, @created, @expires_at)')
      .run(row);
  }

  get(id: string): SessionRow | undefined {
    return this.q<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?').get(id);
  }

  delete(id: string): void {
    this.q('DELETE FROM sessions WHERE id = ?').run(id);
  }

  deleteExpired(nowIso: string): void {
    this.q('DELETE FROM sessions WHERE expires_at < ?').run(nowIso);
  }
}
