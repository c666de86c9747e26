import { randomBytes } from 'node:crypto';
import type { Db } from './database.js';
import { statementCache } from './database.js';

export type ServerStatus = 'stopped' | 'pending' | 'running' | 'stopping';

export interface ServerRow {
  id: number;
  user_id: number;
  name: string;
  status: ServerStatus;
  /** Where the server listens (scheme://host:port), null when stopped. */
  url: string | null;
  /** JSON spawner state. */
  state: string;
  user_options: string | null;
  started: string | null;
  last_activity: string | null;
  /** Id of the spawn attempt the row's backend object belongs to (null before the first spawn). */
  spawn_attempt: string | null;
  /** A label the user chose for a named server; null shows the name. */
  display_name: string | null;
}

export interface ServerWithUser extends ServerRow {
  user_name: string;
}

export class ServerStore {
  private readonly q: Db['prepare'];
  constructor(db: Db) {
    this.q = statementCache(db);
  }

  get(userId: number, name: string): ServerRow | undefined {
    return this.q<[number, string], ServerRow>('SELECT * FROM servers WHERE user_id = ? AND name = ?').get(userId, name);
  }

  getById(id: number): ServerRow | undefined {
    return this.q<[number], ServerRow>('SELECT * FROM servers WHERE id = ?').get(id);
  }

  ofUser(userId: number): ServerRow[] {
    return this.q<[number], ServerRow>('SELECT * FROM servers WHERE user_id = ? ORDER BY name').all(userId);
  }

  /** Servers that are not stopped, with their owner's name (for restore and route reconciliation). */
  active(): ServerWithUser[] {
    return this.q<[], ServerWithUser>(
        "SELECT s.*, u.name AS user_name FROM servers s JOIN users u ON u.id = s.user_id WHERE s.status != 'stopped' ORDER BY s.id",
      )
      .all();
  }

  countActive(): number {
    return (this.q("SELECT count(*) AS n FROM servers WHERE status != 'stopped'").get() as { n: number }).n;
  }

  ensure(userId: number, name: string): ServerRow {
    this.q('INSERT OR IGNORE INTO servers (user_id, name) VALUES (?, ?)').run(userId, name);
    return this.get(userId, name)!;
  }

  update(id: number, fields: Partial<Omit<ServerRow, 'id' | 'user_id' | 'name'>>): void {
    const keys = Object.keys(fields) as (keyof typeof fields)[];
    if (keys.length === 0) return;
    const sql = `UPDATE servers SET ${keys.map((k) => `${k} = @${k}`).join(', ')} WHERE id = @id`;
    this.q(sql).run({ ...fields, id });
  }

  /**
   * Record the backend handle of spawn attempt `attempt`. A write from an attempt that is no
   * longer the row's current one is ignored, so a late report cannot overwrite a newer handle.
   * Synchronous (better-sqlite3): the row is on disk before the caller's next await.
   */
  recordHandle(id: number, attempt: string, state: string): boolean {
    return this.q('UPDATE servers SET state = ? WHERE id = ? AND spawn_attempt = ?').run(state, id, attempt).changes === 1;
  }

  /**
   * This hub installation's id, created on first use. Backend objects are tagged with it, so a
   * sweep at start finds this hub's objects and never another hub's on the same machine.
   */
  instanceId(): string {
    this.q('INSERT OR IGNORE INTO hub_meta (key, value) VALUES (?, ?)').run('instance_id', randomBytes(6).toString('hex'));
    return (this.q('SELECT value FROM hub_meta WHERE key = ?').get('instance_id') as { value: string }).value;
  }

  touch(id: number, when: string): void {
    this.q('UPDATE servers SET last_activity = ? WHERE id = ? AND (last_activity IS NULL OR last_activity < ?)')
      .run(when, id, when);
  }

  delete(id: number): void {
    this.q('DELETE FROM servers WHERE id = ?').run(id);
  }

  setDisplayName(id: number, label: string | null): void {
    this.q('UPDATE servers SET display_name = ? WHERE id = ?').run(label, id);
  }

  /** Named servers of a user that exist in the DB (running or not), excluding the default one. */
  countNamed(userId: number): number {
    return (this.q("SELECT count(*) AS n FROM servers WHERE user_id = ? AND name != ''").get(userId) as { n: number }).n;
  }
}
