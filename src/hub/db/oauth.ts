import type { Db } from './database.js';
import { statementCache } from './database.js';

export interface OAuthClientRow {
  id: string;
  secret_hash: string;
  redirect_uri: string;
  description: string;
  allowed_scopes: string;
  server_id: number | null;
}

export interface OAuthCodeRow {
  code_hash: string;
  client_id: string;
  user_id: number;
  scopes: string;
  redirect_uri: string;
  session_id: string | null;
  expires_at: string;
}

export class OAuthStore {
  private readonly q: Db['prepare'];
  constructor(private readonly db: Db) {
    this.q = statementCache(db);
  }

  client(id: string): OAuthClientRow | undefined {
    return this.q<[string], OAuthClientRow>('SELECT * FROM oauth_clients WHERE id = ?').get(id);
  }

  /**
   * Upsert keeps the row (and so the tokens issued to it) when a server restarts with the same id.
   * Rows from before the client-id change (src/hub/spawn/env.ts) are dropped here, with their
   * tokens: one of this server under another id, and one holding this id for another server (an
   * old named-server id equal to a new default-server id must not hand that server's identity over).
   */
  upsertClient(c: Omit<OAuthClientRow, 'allowed_scopes'> & { allowedScopes: string[] }): void {
    if (c.server_id != null) {
      this.q('DELETE FROM oauth_clients WHERE server_id = ? AND id != ?').run(c.server_id, c.id);
      this.q('DELETE FROM oauth_clients WHERE id = ? AND server_id IS NOT NULL AND server_id != ?').run(c.id, c.server_id);
    }
    this.q(
        `INSERT INTO oauth_clients (id, secret_hash, redirect_uri, description, allowed_scopes, server_id)
         VALUES (@id, @secret_hash, @redirect_uri, @description, @allowed_scopes, @server_id)
         ON CONFLICT(id) DO UPDATE SET secret_hash = excluded.secret_hash, redirect_uri = excluded.redirect_uri,
           description = excluded.description, allowed_scopes = excluded.allowed_scopes, server_id = excluded.server_id`,
      )
      .run({ ...c, allowed_scopes: JSON.stringify(c.allowedScopes) });
  }

  /** Deleting a client revokes every token issued to it (ON DELETE CASCADE). */
  deleteClient(id: string): void {
    if (id === 'jupyterhub') return;
    this.q('DELETE FROM oauth_clients WHERE id = ?').run(id);
  }

  /** Every client of one server, whatever id format it was created under (old rows after an upgrade). */
  deleteClientsForServer(serverId: number): void {
    this.q("DELETE FROM oauth_clients WHERE server_id = ? AND id != 'jupyterhub'").run(serverId);
  }

  /** Clients that belong to no server and are not the built-in one: services' clients. */
  serviceClientIds(): string[] {
    return this.q<[], { id: string }>("SELECT id FROM oauth_clients WHERE server_id IS NULL AND id != 'jupyterhub'").all().map((r) => r.id);
  }

  insertCode(c: OAuthCodeRow): void {
    this.q(
        `INSERT INTO oauth_codes (code_hash, client_id, user_id, scopes, redirect_uri, session_id, expires_at)
         VALUES (@code_hash, @client_id, @user_id, @scopes, @redirect_uri, @session_id, @expires_at)`,
      )
      .run(c);
  }

  /** Codes are single use: taking one deletes it. */
  takeCode(codeHash: string): OAuthCodeRow | undefined {
    return this.db.transaction(() => {
      const row = this.q<[string], OAuthCodeRow>('SELECT * FROM oauth_codes WHERE code_hash = ?').get(codeHash);
      if (row) this.q('DELETE FROM oauth_codes WHERE code_hash = ?').run(codeHash);
      return row;
    })();
  }

  deleteExpiredCodes(nowIso: string): void {
    this.q('DELETE FROM oauth_codes WHERE expires_at < ?').run(nowIso);
  }
}
