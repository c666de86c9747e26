/**
 * The portal's job history (table `jobs`, migration 6). The database is the truth for what a
 * user submitted and how it ended; Slurm forgets finished jobs after MinJobAge.
 */
import type { Db } from '../db/database.js';
import { statementCache } from '../db/database.js';

export interface JobRow {
  id: number;
  user_id: number;
  slurm_id: string;
  name: string;
  template: string | null;
  /** JSON of the validated field values (templates) — for "resubmit with changes". */
  params: string;
  script: string;
  state: string;
  reason: string;
  node_list: string;
  submitted_at: string;
  started_at: string | null;
  ended_at: string | null;
  time_used: string | null;
  time_left: string | null;
  exit_code: string | null;
  stdout_path: string | null;
  stderr_path: string | null;
  /** 1 once the job ended and its exit code was looked up (or given up on). */
  finished: number;
  /** A job array's --array spec (migration 6), or null. */
  array_spec: string | null;
  /** A job array's tasks: JSON of array.ts Tasks ('{}' for a plain job). */
  tasks: string;
}

export type JobWithUser = JobRow & { user_name: string };

export type JobUpdate = Partial<Pick<JobRow, 'state' | 'reason' | 'node_list' | 'started_at' | 'ended_at' | 'time_used' | 'time_left' | 'exit_code' | 'stdout_path' | 'stderr_path' | 'finished' | 'tasks'>>;

const UPDATABLE = new Set(['state', 'reason', 'node_list', 'started_at', 'ended_at', 'time_used', 'time_left', 'exit_code', 'stdout_path', 'stderr_path', 'finished', 'tasks']);

export class JobStore {
  private readonly q: Db['prepare'];
  constructor(private readonly db: Db) {
    this.q = statementCache(db);
  }

  insert(j: Pick<JobRow, 'user_id' | 'slurm_id' | 'name' | 'template' | 'params' | 'script' | 'state' | 'submitted_at'> & Partial<Pick<JobRow, 'array_spec' | 'tasks'>>): JobRow {
    const info = this.q('INSERT INTO jobs (user_id, slurm_id, name, template, params, script, state, submitted_at, array_spec, tasks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      j.user_id, j.slurm_id, j.name, j.template, j.params, j.script, j.state, j.submitted_at, j.array_spec ?? null, j.tasks ?? '{}',
    );
    return this.byId(Number(info.lastInsertRowid))!;
  }

  byId(id: number): JobRow | undefined {
    return this.q<[number], JobRow>('SELECT * FROM jobs WHERE id = ?').get(id);
  }

  bySlurmId(slurmId: string): JobWithUser | undefined {
    return this.q<[string], JobWithUser>('SELECT j.*, u.name AS user_name FROM jobs j JOIN users u ON u.id = j.user_id WHERE j.slurm_id = ?').get(slurmId);
  }

  /** Newest first. `userId` null: every user's (admins). */
  list(userId: number | null, opts: { active?: boolean; limit: number; offset: number }): JobWithUser[] {
    const where: string[] = [];
    const args: (number | string)[] = [];
    if (userId !== null) {
      where.push('j.user_id = ?');
      args.push(userId);
    }
    if (opts.active !== undefined) where.push(opts.active ? 'j.finished = 0' : 'j.finished = 1');
    const sql = `SELECT j.*, u.name AS user_name FROM jobs j JOIN users u ON u.id = j.user_id ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY j.id DESC LIMIT ? OFFSET ?`;
    return this.db.prepare(sql).all(...args, opts.limit, opts.offset) as JobWithUser[];
  }

  count(userId: number | null): number {
    const row = userId === null ? this.q<[], { n: number }>('SELECT COUNT(*) AS n FROM jobs').get() : this.q<[number], { n: number }>('SELECT COUNT(*) AS n FROM jobs WHERE user_id = ?').get(userId);
    return row?.n ?? 0;
  }

  /** Jobs the poller must watch: not yet finished. */
  unfinished(): JobWithUser[] {
    return this.q<[], JobWithUser>('SELECT j.*, u.name AS user_name FROM jobs j JOIN users u ON u.id = j.user_id WHERE j.finished = 0').all();
  }

  update(id: number, u: JobUpdate): void {
    const keys = Object.keys(u).filter((k) => UPDATABLE.has(k));
    if (!keys.length) return;
    this.db.prepare(`UPDATE jobs SET ${keys.map((k) => `${k} = ?`).join(', ')} WHERE id = ?`).run(...keys.map((k) => (u as Record<string, unknown>)[k] as string | number | null), id);
  }

  /** Keep the newest `keep` finished jobs of a user; forget older ones. */
  prune(userId: number, keep: number): void {
    this.q('DELETE FROM jobs WHERE user_id = ? AND finished = 1 AND id NOT IN (SELECT id FROM jobs WHERE user_id = ? ORDER BY id DESC LIMIT ?)').run(userId, userId, keep);
  }
}
