/**
 * Keeps portal jobs up to date from the spawner kind's single poller (batch-jobs.ts): every
 * unfinished job's id is registered with the shared poller (so Slurm's one squeue per cycle covers
 * sessions and jobs alike), and each cycle's snapshot updates the rows that changed and tells the pages (events.ts).
 * A job that ended or that squeue no longer lists is looked up once for its exit code — one sacct
 * for all the jobs that ended in that cycle — then marked finished and no longer watched.
 */
import type { Logger } from 'pino';
import type { BatchCycle, BatchFinal, BatchJobs, BatchJobStatus } from '../../spawners/batch-jobs.js';
import { arrayState, bucketOf, parseTasks, taskCounts } from './array.js';
import { now } from '../db/index.js';
import type { JobStore, JobUpdate, JobWithUser } from './store.js';
import type { PortalEvents } from './events.js';
import { jobModel } from './model.js';

export class JobTracker {
  /** Slurm job id → row id, for jobs watched on the poller. */
  private readonly watched = new Map<string, number>();
  private readonly finishing = new Set<string>();
  /** Cycles in which asking for an ended job's final state failed (sacct/scontrol timed out under load). */
  private readonly finalTries = new Map<string, number>();
  private unsubscribe: (() => void) | null = null;
  /** squeue calls seen (cycles), for the bench and the log. */
  cycles = 0;

  constructor(
    private readonly backend: BatchJobs,
    private readonly store: JobStore,
    private readonly events: PortalEvents,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.unsubscribe = this.backend.onCycle((c) => this.onCycle(c));
    for (const row of this.store.unfinished()) this.watch(row.slurm_id, row.id);
  }

  close(): void {
    this.unsubscribe?.();
    for (const id of this.watched.keys()) this.backend.unwatch(id);
    this.watched.clear();
  }

  watch(slurmId: string, rowId: number): void {
    if (this.watched.has(slurmId)) return;
    this.watched.set(slurmId, rowId);
    this.backend.watch(slurmId);
  }

  /** Ask for a cycle soon (after a submit or cancel) rather than at the next interval. */
  nudge(): void {
    this.backend.refresh();
  }

  private onCycle(snap: BatchCycle): void {
    this.cycles++;
    if (!snap.ok) return; // the controller is away: nothing is known, nothing changes
    const ended: JobWithUser[] = [];
    const byArray = tasksByArray(snap.jobs);
    for (const [slurmId] of this.watched) {
      if (!snap.covered.has(slurmId) || this.finishing.has(slurmId)) continue;
      const row = this.store.bySlurmId(slurmId);
      if (!row || row.finished) {
        this.forget(slurmId);
        continue;
      }
      if (row.array_spec) {
        if (!this.applyArray(row, byArray.get(slurmId) ?? [])) ended.push(row);
        continue;
      }
      const job = snap.jobs.get(slurmId);
      if (!job || job.ended) {
        if (job) this.apply(row, job);
        ended.push(row);
        continue;
      }
      this.apply(row, job);
    }
    if (ended.length) void this.finish(ended);
  }

  /**
   * An array's tasks from one cycle (squeue -r lists each as <array>_<task>). A task squeue no
   * longer lists keeps its last state until the array ends. Returns false once no listed task is
   * queued or running: the array has ended and is finished like a plain job.
   */
  private applyArray(row: JobWithUser, listed: [string, BatchJobStatus][]): boolean {
    const tasks = parseTasks(row.tasks);
    let active = false;
    for (const [task, job] of listed) {
      const before = tasks[task];
      tasks[task] = { ...before, state: job.state, reason: job.reason || undefined, node: job.nodeList || before?.node };
      if (!job.ended) active = true;
    }
    const text = JSON.stringify(tasks);
    if (!active) {
      // The final states squeue showed stay: finalInfo may know less (a cancelled task that held
      // the array's own job id hides the others from `scontrol show job` there).
      if (text !== row.tasks) this.store.update(row.id, { tasks: text });
      return false;
    }
    const state = arrayState(tasks);
    if (text === row.tasks && state === row.state) return true;
    const u: JobUpdate = { tasks: text, state, reason: '' };
    if (state === 'RUNNING' && !row.started_at) u.started_at = now();
    const nodes = [...new Set(Object.values(tasks).map((t) => t.node).filter((n): n is string => !!n))].join(',');
    if (nodes && nodes !== row.node_list) u.node_list = nodes;
    this.store.update(row.id, u);
    const fresh = this.store.bySlurmId(row.slurm_id)!;
    const c = taskCounts(tasks);
    const what = state !== row.state ? (state === 'RUNNING' ? 'started' : state === 'PENDING' ? 'queued' : 'update') : 'update';
    this.events.emit({ type: 'job', what, user: row.user_name, message: `Job array ${row.slurm_id} (${row.name}): ${c.running} running, ${c.queued} queued, ${c.done} done, ${c.failed} failed, ${c.cancelled} cancelled`, data: jobModel(fresh) });
    return true;
  }

  /** A queued task the user cancelled: squeue drops it at once, so the hub records it. */
  taskCancelled(slurmId: string, task: number): void {
    const row = this.store.bySlurmId(slurmId);
    if (!row || row.finished) return;
    const tasks = parseTasks(row.tasks);
    const t = tasks[String(task)];
    if (!t || bucketOf(t) !== 'queued') return;
    tasks[String(task)] = { ...t, state: 'CANCELLED', reason: undefined };
    this.store.update(row.id, { tasks: JSON.stringify(tasks), state: arrayState(tasks) });
    this.events.emit({ type: 'job', what: 'update', user: row.user_name, message: `Task ${task} of job array ${slurmId} was cancelled`, data: jobModel(this.store.bySlurmId(slurmId)!) });
  }

  /** An ended array: each task's final word from finalInfo (keys <array>_<task>), else its last state. */
  private finishArray(row: JobWithUser, info: Map<string, BatchFinal>): void {
    const latest = this.store.bySlurmId(row.slurm_id) ?? row;
    const tasks = parseTasks(latest.tasks);
    let stdout = latest.stdout_path;
    let stderr = latest.stderr_path;
    for (const [task, t] of Object.entries(tasks)) {
      const fin = info.get(`${row.slurm_id}_${task}`);
      if (fin) {
        tasks[task] = { ...t, state: fin.state && fin.state !== 'UNKNOWN' ? fin.state : t.state, exit: fin.exitCode, elapsed: fin.elapsed, reason: undefined };
        stdout ??= fin.stdout ?? null;
        stderr ??= fin.stderr ?? null;
      } else if (bucketOf(t) === 'queued' || bucketOf(t) === 'running') {
        tasks[task] = { ...t, state: 'ENDED', reason: undefined };
      }
    }
    const state = arrayState(tasks);
    this.store.update(row.id, { tasks: JSON.stringify(tasks), state, time_left: null, ended_at: now(), finished: 1, stdout_path: stdout, stderr_path: stderr });
    const done = this.store.bySlurmId(row.slurm_id)!;
    const c = taskCounts(tasks);
    const what = state === 'COMPLETED' ? 'finished' : state === 'CANCELLED' ? 'cancelled' : c.failed > 0 ? 'failed' : 'finished';
    this.events.emit({ type: 'job', what, user: row.user_name, message: `Job array ${row.slurm_id} (${row.name}) ended: ${c.done} done, ${c.failed} failed, ${c.cancelled} cancelled`, data: jobModel(done) });
  }

  /** Write what changed and tell the owner's pages. */
  private apply(row: JobWithUser, job: BatchJobStatus): void {
    const u: JobUpdate = {};
    if (job.state !== row.state) u.state = job.state;
    const reason = job.reason;
    if (reason !== row.reason) u.reason = reason;
    if (job.nodeList && job.nodeList !== row.node_list) u.node_list = job.nodeList;
    if (job.state === 'RUNNING' && !row.started_at) u.started_at = job.startedAt ?? now();
    if (job.timeUsed !== row.time_used) u.time_used = job.timeUsed;
    const left = job.state === 'RUNNING' ? job.timeLeft : null;
    if (left !== row.time_left) u.time_left = left;
    if (!Object.keys(u).length) return;
    this.store.update(row.id, u);
    // time_used alone changes every cycle while running: pages count it up themselves.
    const visible = u.state !== undefined || u.reason !== undefined || u.node_list !== undefined;
    const fresh = this.store.bySlurmId(row.slurm_id)!;
    const what = u.state === 'RUNNING' ? 'started' : u.state === 'PENDING' ? 'queued' : 'update';
    const message = what === 'started' ? `Job ${row.slurm_id} (${row.name}) is running on ${fresh.node_list}` : `Job ${row.slurm_id} (${row.name}): ${fresh.state}${fresh.reason ? ` (${fresh.reason})` : ''}`;
    this.events.emit({ type: 'job', what: visible ? what : 'tick', user: row.user_name, message, data: jobModel(fresh) });
  }

  private async finish(rows: JobWithUser[]): Promise<void> {
    for (const r of rows) this.finishing.add(r.slurm_id);
    try {
      // A failed query (a busy controller) is asked again at the next cycles rather than
      // recording a vague "ENDED"; after three failures the last state seen is kept.
      const info = await this.backend.finalInfo(rows.map((r) => r.slurm_id)).catch((err: unknown) => {
        const tries = Math.max(...rows.map((r) => (this.finalTries.get(r.slurm_id) ?? 0) + 1));
        for (const r of rows) this.finalTries.set(r.slurm_id, tries);
        if (tries < 3) throw err;
        return new Map<string, never>();
      });
      for (const row of rows) {
        if (row.array_spec) {
          this.finishArray(row, info);
          this.finalTries.delete(row.slurm_id);
          this.forget(row.slurm_id);
          continue;
        }
        const fin = info.get(row.slurm_id);
        const latest = this.store.bySlurmId(row.slurm_id) ?? row;
        // The scheduler's final word, else the last state seen, else plain "ENDED".
        const state = fin?.state && fin.state !== 'UNKNOWN' ? fin.state : ['PENDING', 'RUNNING', 'COMPLETING', 'CONFIGURING'].includes(latest.state) ? 'ENDED' : latest.state;
        this.store.update(row.id, {
          state,
          exit_code: fin?.exitCode ?? null,
          time_used: fin?.elapsed ?? latest.time_used,
          time_left: null,
          ended_at: now(),
          finished: 1,
          ...(fin?.stdout && !latest.stdout_path ? { stdout_path: fin.stdout } : {}),
          ...(fin?.stderr && !latest.stderr_path ? { stderr_path: fin.stderr } : {}),
        });
        const done = this.store.bySlurmId(row.slurm_id)!;
        const ok = state === 'COMPLETED' && (done.exit_code === null || done.exit_code === '0:0');
        const what = state === 'CANCELLED' ? 'cancelled' : ok ? 'finished' : 'failed';
        this.events.emit({
          type: 'job',
          what,
          user: row.user_name,
          message: `Job ${row.slurm_id} (${row.name}) ${what === 'finished' ? 'finished' : what === 'cancelled' ? 'was cancelled' : `failed: ${state}`}${done.exit_code ? `, exit code ${done.exit_code}` : ''}`,
          data: jobModel(done),
        });
        this.finalTries.delete(row.slurm_id);
        this.forget(row.slurm_id);
      }
    } catch (err) {
      this.log.warn({ err: String(err) }, 'could not finish portal jobs; will try at the next cycle');
    } finally {
      for (const r of rows) this.finishing.delete(r.slurm_id);
    }
  }

  private forget(slurmId: string): void {
    this.finalTries.delete(slurmId);
    if (!this.watched.delete(slurmId)) return;
    this.backend.unwatch(slurmId);
  }
}

/** One pass over a cycle's jobs: array id → its listed tasks ([task id, status]). */
function tasksByArray(jobs: ReadonlyMap<string, BatchJobStatus>): Map<string, [string, BatchJobStatus][]> {
  const out = new Map<string, [string, BatchJobStatus][]>();
  for (const [id, job] of jobs) {
    const m = /^(\d+)_(\d+)$/.exec(id);
    if (!m) continue;
    let list = out.get(m[1]!);
    if (!list) out.set(m[1]!, (list = []));
    list.push([m[2]!, job]);
  }
  return out;
}
