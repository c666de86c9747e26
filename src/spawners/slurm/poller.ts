/**
 * One squeue call per poll cycle for every Slurm job of the hub. batchspawner runs one squeue per
 * server every poll; with hundreds of sessions that alone loads the controller, and sites raised
 * the interval to half an hour. Here every SlurmSpawner registers its job id with the shared
 * poller of its cluster and reads the last snapshot; poll() never calls squeue itself.
 *
 * Cycles run every `poll.intervalSeconds`, or every `poll.startIntervalSeconds` while any spawn
 * waits for its job, jittered so that hubs sharing a controller spread out. A failed squeue (the
 * controller down or slow) makes the snapshot "unknown" — spawners keep their servers — and doubles
 * the interval up to `poll.maxBackoffSeconds`.
 *
 * The poller stops its timer when it watches no job and is re-created on demand, so a restarted
 * hub gets a fresh one as soon as restore() registers the first job id.
 */
import { clientEnv, run, SlurmCommandError } from './commands.js';
import type { SlurmSpawnerOptions } from './options.js';

export interface JobInfo {
  id: string;
  state: string;
  reason: string;
  /** Slurm's compressed node list, e.g. "nid[001-003]"; '' while pending. */
  nodeList: string;
  /** Start time (estimated while pending), ISO-ish local time as squeue prints it, or null. */
  startTime: string | null;
  endTime: string | null;
  /** Run time so far and time left as squeue prints them ("1:02:03", "UNLIMITED"), or null. */
  timeUsed?: string | null;
  timeLeft?: string | null;
}

interface SnapshotBase {
  /** When the squeue call started and ended. */
  startedAt: number;
  at: number;
  /** The job ids this cycle asked about: a job not asked about says nothing about that job. */
  covered: ReadonlySet<string>;
}
export type Snapshot = (SnapshotBase & { ok: true; jobs: Map<string, JobInfo> }) | (SnapshotBase & { ok: false; error: string });

/** States after which the job's processes are gone or going. */
export const ENDED_STATES = new Set([
  'COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE',
  'SPECIAL_EXIT', 'REVOKED',
]);

const FORMAT = '%i|%T|%r|%N|%S|%e|%M|%L';

function timeOrNull(v: string | undefined): string | null {
  return !v || v === 'N/A' || v === 'Unknown' || v === 'None' ? null : v;
}

/**
 * Task ids of a pending array range as squeue prints it without -r ("1234_[3-9%2]", "1234_[1,4-5]"),
 * or null when `id` is not one. The cycle asks with -r, so this is for a squeue that ignores it.
 */
export function expandArrayRange(id: string): string[] | null {
  const m = /^(\d+)_\[([\d,:-]+)(?:%\d+)?\]$/.exec(id);
  if (!m) return null;
  const out: string[] = [];
  for (const part of m[2]!.split(',')) {
    const [range, step] = part.split(':');
    const [a, b] = range!.split('-').map(Number);
    for (let t = a!; t <= (b ?? a!) && out.length < 100_000; t += Number(step ?? 1) || 1) out.push(`${m[1]}_${t}`);
  }
  return out;
}

export function parseSqueue(text: string): Map<string, JobInfo> {
  const jobs = new Map<string, JobInfo>();
  for (const line of text.split('\n')) {
    const f = line.trim().split('|');
    if (f.length < 6 || !f[0]) continue;
    const info = {
      id: f[0], state: f[1]!, reason: f[2]!, nodeList: f[3]!, startTime: timeOrNull(f[4]), endTime: timeOrNull(f[5]),
      timeUsed: timeOrNull(f[6]), timeLeft: timeOrNull(f[7]),
    };
    // Array tasks are keyed <array>_<task>; a pending range becomes one entry per task.
    for (const id of expandArrayRange(f[0]) ?? [f[0]]) jobs.set(id, { ...info, id });
  }
  return jobs;
}

export class SlurmPoller {
  /** job id → number of spawners watching it (a restored and a running instance may share one). */
  private readonly watched = new Map<string, number>();
  /** job ids whose spawn is waiting: they make cycles fast. */
  private readonly starting = new Map<string, number>();
  private last: Snapshot | null = null;
  private inflight: Promise<Snapshot> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerDue = 0;
  private failures = 0;
  /** Job ids not yet covered by a finished cycle (just registered). */
  private readonly unseen = new Set<string>();
  private readonly waiters: ((s: Snapshot) => void)[] = [];
  closed = false;

  constructor(private readonly options: SlurmSpawnerOptions) {}

  watch(id: string, starting: boolean): void {
    this.watched.set(id, (this.watched.get(id) ?? 0) + 1);
    if (starting) this.starting.set(id, (this.starting.get(id) ?? 0) + 1);
    this.unseen.add(id);
    this.schedule(starting ? 0 : 200);
  }

  /** A job already watched whose spawn waits again (resumed after a hub restart): fast cycles. */
  markStarting(id: string): void {
    if (!this.watched.has(id)) return this.watch(id, true);
    this.starting.set(id, (this.starting.get(id) ?? 0) + 1);
    this.schedule(0);
  }

  /** The spawn of this job is over (ready or failed): back to the slow interval. */
  doneStarting(id: string): void {
    const n = (this.starting.get(id) ?? 0) - 1;
    if (n > 0) this.starting.set(id, n);
    else this.starting.delete(id);
  }

  unwatch(id: string): void {
    const n = (this.watched.get(id) ?? 0) - 1;
    if (n > 0) return void this.watched.set(id, n);
    this.watched.delete(id);
    this.starting.delete(id);
    this.unseen.delete(id);
    if (this.watched.size === 0) this.stopTimer();
  }

  /** The latest snapshot that covers `id`, waiting for the next cycle if none does yet. */
  async snapshotFor(id: string): Promise<Snapshot> {
    if (this.last && !this.unseen.has(id)) return this.last;
    for (;;) {
      this.schedule(200);
      const snap = await this.nextCycle();
      if (snap.covered.has(id) || !this.watched.has(id)) return snap;
    }
  }

  /** Resolves after the next cycle (scheduled or already running); never starts an extra one. */
  nextCycle(): Promise<Snapshot> {
    if (this.inflight) return this.inflight;
    // Nothing watched means no timer: answer now rather than wait for a cycle that never comes.
    if (this.watched.size === 0 || this.closed) return this.cycle();
    if (!this.timer && this.watched.size > 0) this.schedule(this.interval());
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Run a cycle now unless one is running. */
  refresh(): Promise<Snapshot> {
    return this.inflight ?? this.cycle();
  }

  /**
   * A snapshot taken after this call and covering `id` (stop() after scancel, a port report): a
   * cycle already running may predate the call or miss a just-registered job, so it may take two.
   */
  async fresh(id: string): Promise<Snapshot> {
    const since = Date.now();
    for (;;) {
      const snap = await this.refresh();
      if (snap.startedAt >= since && snap.covered.has(id)) return snap;
      if (!this.watched.has(id)) return snap; // not watched: nothing better will come
    }
  }

  close(): void {
    this.closed = true;
    this.stopTimer();
    this.watched.clear();
    this.starting.clear();
  }

  private interval(): number {
    const o = this.options.poll;
    const base = (this.starting.size > 0 ? o.startIntervalSeconds : o.intervalSeconds) * 1000;
    const backedOff = Math.min(base * 2 ** this.failures, Math.max(base, o.maxBackoffSeconds * 1000));
    return backedOff * (1 + o.jitter * (Math.random() * 2 - 1));
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.watched.size === 0) return;
    const due = Date.now() + delayMs;
    if (this.timer && this.timerDue <= due) return;
    this.stopTimer();
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.cycle().finally(() => this.schedule(this.interval()));
    }, delayMs);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private cycle(): Promise<Snapshot> {
    if (this.inflight) return this.inflight;
    const ids = [...this.watched.keys()];
    const covered: ReadonlySet<string> = new Set(ids);
    const startedAt = Date.now();
    this.inflight = (async (): Promise<Snapshot> => {
      let snap: Snapshot;
      if (ids.length === 0) {
        snap = { ok: true, startedAt, at: Date.now(), covered, jobs: new Map() };
      } else {
        try {
          const out = await run(this.options.commands.squeue, ['-h', '-r', '--states=all', `--jobs=${ids.join(',')}`, '-o', FORMAT], {
            env: clientEnv(this.options),
            timeoutMs: 30_000,
          });
          snap = { ok: true, startedAt, at: Date.now(), covered, jobs: parseSqueue(out) };
          this.failures = 0;
        } catch (err) {
          // squeue exits 1 when none of the ids is known any more: that is an answer, not an outage.
          if (err instanceof SlurmCommandError && err.exitCode === 1 && /Invalid job id/i.test(err.stderr)) {
            snap = { ok: true, startedAt, at: Date.now(), covered, jobs: new Map() };
            this.failures = 0;
          } else {
            this.failures = Math.min(this.failures + 1, 20);
            snap = { ok: false, startedAt, at: Date.now(), covered, error: (err as Error).message };
          }
        }
      }
      this.last = snap;
      for (const id of covered) this.unseen.delete(id);
      for (const l of cycleListeners) {
        try {
          l(snap, this.options);
        } catch {
          // A listener's bug must not break the poll of every session.
        }
      }
      return snap;
    })();
    void this.inflight.then((snap) => {
      this.inflight = null;
      for (const w of this.waiters.splice(0)) w(snap);
    });
    return this.inflight;
  }
}

/**
 * Called after every cycle of every poller with its snapshot: how other watchers of Slurm jobs
 * (the portal's batch jobs, src/hub/jobs/) ride on the same squeue call instead of making their
 * own. They register their job ids with watch()/unwatch() like spawners do.
 */
export type CycleListener = (snap: Snapshot, options: SlurmSpawnerOptions) => void;
const cycleListeners = new Set<CycleListener>();

export function onSlurmCycle(l: CycleListener): () => void {
  cycleListeners.add(l);
  return () => cycleListeners.delete(l);
}

const pollers = new Map<string, SlurmPoller>();

/** The hub-wide poller for one cluster (same squeue, client environment and poll settings). */
export function pollerFor(options: SlurmSpawnerOptions): SlurmPoller {
  const key = JSON.stringify([options.commands.squeue, options.clientEnvironment, options.poll]);
  let p = pollers.get(key);
  if (!p || p.closed) {
    p = new SlurmPoller(options);
    pollers.set(key, p);
  }
  return p;
}

/** Stop every poller (hub shutdown, tests). The next pollerFor() makes a new one. */
export function closeSlurmPollers(): void {
  for (const p of pollers.values()) p.close();
  pollers.clear();
}
