import type { Db } from './database.js';
import { statementCache } from './database.js';

export interface GroupRow {
  id: number;
  name: string;
}

export class GroupStore {
  private readonly q: Db['prepare'];
  constructor(private readonly db: Db) {
    this.q = statementCache(db);
  }

  get(name: string): GroupRow | undefined {
    return this.q<[string], GroupRow>('SELECT * FROM groups WHERE name = ?').get(name);
  }

  list(offset = 0, limit = -1): GroupRow[] {
    return this.q<[number, number], GroupRow>('SELECT * FROM groups ORDER BY id LIMIT ? OFFSET ?').all(limit, offset);
  }

  count(): number {
    return (this.q('SELECT count(*) AS n FROM groups').get() as { n: number }).n;
  }

  create(name: string): GroupRow {
    this.q('INSERT INTO groups (name) VALUES (?)').run(name);
    return this.get(name)!;
  }

  ensure(name: string): GroupRow {
    return this.get(name) ?? this.create(name);
  }

  rename(id: number, name: string): void {
    this.q('UPDATE groups SET name = ? WHERE id = ?').run(name, id);
  }

  delete(id: number): void {
    this.q('DELETE FROM groups WHERE id = ?').run(id);
  }

  members(groupId: number): string[] {
    return (
      this.q('SELECT u.name FROM users u JOIN user_groups ug ON ug.user_id = u.id WHERE ug.group_id = ? ORDER BY u.id')
        .all(groupId) as { name: string }[]
    ).map((r) => r.name);
  }

  groupsOf(userId: number): string[] {
    return (
      this.q('SELECT g.name FROM groups g JOIN user_groups ug ON ug.group_id = g.id WHERE ug.user_id = ? ORDER BY g.name')
        .all(userId) as { name: string }[]
    ).map((r) => r.name);
  }

  addMember(groupId: number, userId: number): void {
    this.q('INSERT OR IGNORE INTO user_groups (user_id, group_id) VALUES (?, ?)').run(userId, groupId);
  }

  removeMember(groupId: number, userId: number): void {
    this.q('DELETE FROM user_groups WHERE user_id = ? AND group_id = ?').run(userId, groupId);
  }

  /** Make the user's membership exactly `names` (authenticator-managed groups). */
  syncUser(userId: number, names: string[]): void {
    this.db.transaction(() => {
      this.q('DELETE FROM user_groups WHERE user_id = ?').run(userId);
      for (const n of names) this.addMember(this.ensure(n).id, userId);
    })();
  }
}
