import type { Db } from './database.js';
import { now, statementCache } from './database.js';

export interface TokenRow {
  id: number;
  user_id: number;
  prefix: string;
  hashed: string;
  client_id: string;
  scopes: string;
  note: string;
  session_id: string | null;
  created: string;
  last_activity: string | null;
  expires_at: string | null;
  server_id: number | null;
}

export class TokenStore {
  private readonly q: Db['prepare'];
  constructor(db: Db) {
    this.q = statementCache(db);
  }

  insert(t: {
    userId: number;
    prefix: string;
    hashed: string;
    clientId?: string;
    scopes: string[];
    note: string;
    sessionId?: string | null;
    expiresAt?: string | null;
    serverId?: number | null;
  }): TokenRow {
    const r = this.q(
        `INSERT INTO api_tokens (user_id, prefix, hashed, client_id, scopes, note, session_id, created, expires_at, server_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        t.userId,
        t.prefix,
        t.hashed,
        t.clientId ?? 'jupyterhub',
        JSON.stringify(t.scopes),
        t.note,
        t.sessionId ?? null,
        now(),
        t.expiresAt ?? null,
        t.serverId ?? null,
      );
    return this.get(Number(r.lastInsertRowid))!;
  }

  get(id: number): TokenRow | undefined {
    return this.q<[number], TokenRow>('SELECT * FROM api_tokens WHERE id = ?').get(id);
  }

  byPrefix(prefix: string): TokenRow[] {
    return this.q<[string], TokenRow>('SELECT * FROM api_tokens WHERE prefix = ?').all(prefix);
  }

  ofUser(userId: number): TokenRow[] {
    return this.q<[number], TokenRow>('SELECT * FROM api_tokens WHERE user_id = ? ORDER BY coalesce(last_activity, created)')
      .all(userId);
  }

  touch(id: number, when: string): void {
    this.q('UPDATE api_tokens SET last_activity = ? WHERE id = ?').run(when, id);
  }

  delete(id: number): void {
    this.q('DELETE FROM api_tokens WHERE id = ?').run(id);
  }

  deleteForServer(serverId: number): void {
    this.q('DELETE FROM api_tokens WHERE server_id = ?').run(serverId);
  }

  deleteForSession(userId: number, sessionId: string): void {
    this.q('DELETE FROM api_tokens WHERE user_id = ? AND session_id = ?').run(userId, sessionId);
  }

  deleteForClient(userId: number, clientId: string): void {
    this.q('DELETE FROM api_tokens WHERE user_id = ? AND client_id = ?').run(userId, clientId);
  }

  deleteExpired(): number {
    return this.q('DELETE FROM api_tokens WHERE expires_at IS NOT NULL AND expires_at < ?').run(now()).changes;
  }
}
