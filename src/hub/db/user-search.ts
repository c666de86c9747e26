/**
 * The admin page's user query: search, sort and one page, done by SQLite so the page costs the
 * same with 10,000 users as with 10 (only the rows shown are read and rendered).
 */
import type { Db } from './database.js';
import type { UserRow } from './users.js';

export const USER_SORTS = ['name', 'admin', 'activity', 'running'] as const;
export type UserSort = (typeof USER_SORTS)[number];

export interface UserSearch {
  /** Case-insensitive substring of the name ('' = everyone). */
  q: string;
  sort: UserSort;
  desc: boolean;
  offset: number;
  limit: number;
}

// A user "runs" something when any of their server rows is not stopped; the row status is
// written by the spawn manager at every transition, so SQL can sort on it.
const RUNNING = "(SELECT count(*) FROM servers s WHERE s.user_id = u.id AND s.status != 'stopped')";

// Every ORDER BY ends with the unique name, so paging is stable when the sort key ties.
const ORDER: Record<UserSort, (dir: string) => string> = {
  name: (d) => `u.name ${d}`,
  admin: (d) => `u.admin ${d}, u.name`,
  // Never-active users sort last in both directions: they are the least interesting either way.
  // SQLite orders NULL lowest, so DESC needs no extra key and can walk the last_activity index.
  activity: (d) => (d === 'DESC' ? 'u.last_activity DESC, u.name' : 'u.last_activity IS NULL, u.last_activity, u.name'),
  running: (d) => `${RUNNING} ${d}, u.name`,
};

export function likePattern(q: string): string {
  return `%${q.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
}

/** How many users' names contain `q` (the REST API's name_filter; '' = all). */
export function countUsers(db: Db, q: string): number {
  if (!q) return (db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  return (db.prepare("SELECT count(*) AS n FROM users WHERE lower(name) LIKE ? ESCAPE '\\'").get(likePattern(q)) as { n: number }).n;
}

export function searchUsers(db: Db, s: UserSearch): { rows: UserRow[]; total: number } {
  const where = s.q ? "WHERE lower(u.name) LIKE ? ESCAPE '\\'" : '';
  const args = s.q ? [likePattern(s.q)] : [];
  const total = (db.prepare(`SELECT count(*) AS n FROM users u ${where}`).get(...args) as { n: number }).n;
  const rows = db
    .prepare(`SELECT u.* FROM users u ${where} ORDER BY ${ORDER[s.sort](s.desc ? 'DESC' : 'ASC')} LIMIT ? OFFSET ?`)
    .all(...args, s.limit, s.offset) as UserRow[];
  return { rows, total };
}

export interface GroupSummary {
  id: number;
  name: string;
  members: number;
}

export function searchGroups(db: Db, q: string, offset: number, limit: number): { rows: GroupSummary[]; total: number } {
  const where = q ? "WHERE lower(g.name) LIKE ? ESCAPE '\\'" : '';
  const args = q ? [likePattern(q)] : [];
  const total = (db.prepare(`SELECT count(*) AS n FROM groups g ${where}`).get(...args) as { n: number }).n;
  const rows = db
    .prepare(`SELECT g.id, g.name, (SELECT count(*) FROM user_groups ug WHERE ug.group_id = g.id) AS members
              FROM groups g ${where} ORDER BY g.name LIMIT ? OFFSET ?`)
    .all(...args, limit, offset) as GroupSummary[];
  return { rows, total };
}
