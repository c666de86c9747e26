/**
 * Slurm job arrays in the portal: the `--array` spec (checked before sbatch sees it), the task
 * ids it names, per-task states kept on the job's row (column `tasks`, migration 6), the counts a
 * page shows, and each task's output file from the job's `%A_%a` pattern.
 *
 * One array is one row: the hub watches the array's job id on the shared poller, whose squeue
 * (`-r`: one line per task, pending ranges included) reports every task as `<array>_<task>`.
 */
import { atriumError } from '../errors.js';

/** "0-9", "1,3,5-7", "0-15:4", each optionally followed by "%N" (at most N tasks at once). */
const SPEC = /^(\d{1,7}(-\d{1,7}(:\d{1,7})?)?)(,\d{1,7}(-\d{1,7}(:\d{1,7})?)?)*(%\d{1,7})?$/;

export interface ArraySpec {
  spec: string;
  tasks: number[];
  /** Tasks at once (%N), or null. */
  limit: number | null;
}

function bad(message: string): never {
  throw atriumError('ATRIUM_ERR_JOB_ARRAY_SPEC', message);
}

/** Parse and check an array spec; `max` bounds the number of tasks. */
export function parseArraySpec(raw: string, max: number): ArraySpec {
  const spec = raw.trim();
  if (!SPEC.test(spec)) bad(`"${spec.slice(0, 60)}" is not an array spec: use task ids and ranges like 0-9, 1,3,5-7 or 0-15:4, optionally with %N to run at most N at once`);
  const [list, lim] = spec.split('%') as [string, string | undefined];
  const limit = lim === undefined ? null : Number(lim);
  if (limit !== null && limit < 1) bad('the %N limit of an array must be at least 1');
  const seen = new Set<number>();
  for (const part of list.split(',')) {
    const [range, stepRaw] = part.split(':') as [string, string | undefined];
    const [a, b] = range.split('-').map(Number) as [number, number | undefined];
    const end = b ?? a;
    const step = stepRaw === undefined ? 1 : Number(stepRaw);
    if (end < a) bad(`the range ${range} of the array runs backwards`);
    if (step < 1) bad('the step of an array range must be at least 1');
    for (let t = a; t <= end; t += step) {
      seen.add(t);
      if (seen.size > max) bad(`the array has more than ${max} tasks (jobs.maxArrayTasks)`);
    }
  }
  return { spec, tasks: [...seen].sort((x, y) => x - y), limit };
}

/** `#SBATCH --array=SPEC` / `#SBATCH -a SPEC` lines of a script (sbatch reads them up to the first command). */
export function scriptArraySpec(script: string): string | null {
  let found: string | null = null;
  for (const line of script.split('\n').slice(1)) {
    const t = line.trim();
    if (t === '' || (t.startsWith('#') && !t.startsWith('#SBATCH'))) continue;
    if (!t.startsWith('#SBATCH')) break;
    const m = /^#SBATCH\s+(?:--array(?:=|\s+)|-a\s*)(\S+)/.exec(t);
    if (m) found = m[1]!;
  }
  return found;
}

/** A task as the row keeps it. */
export interface TaskState {
  state: string;
  reason?: string;
  node?: string;
  exit?: string | null;
  elapsed?: string | null;
}

export type Tasks = Record<string, TaskState>;

export function parseTasks(text: string | null | undefined): Tasks {
  try {
    const v = JSON.parse(text ?? '{}') as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Tasks) : {};
  } catch {
    return {};
  }
}

const QUEUED = new Set(['PENDING', 'CONFIGURING', 'REQUEUED', 'SUSPENDED', 'RESV_DEL_HOLD', 'REQUEUE_HOLD', 'REQUEUE_FED']);
const RUNNING = new Set(['RUNNING', 'COMPLETING', 'STAGE_OUT', 'SIGNALING']);

export type TaskBucket = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export function bucketOf(t: TaskState): TaskBucket {
  if (QUEUED.has(t.state)) return 'queued';
  if (RUNNING.has(t.state)) return 'running';
  if (t.state === 'CANCELLED') return 'cancelled';
  if (t.state === 'COMPLETED' && (t.exit === undefined || t.exit === null || t.exit === '0:0')) return 'done';
  return 'failed';
}

export function taskCounts(tasks: Tasks): Record<TaskBucket, number> {
  const c: Record<TaskBucket, number> = { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
  for (const t of Object.values(tasks)) c[bucketOf(t)]++;
  return c;
}

/** The array's own state word for the row: running while any task runs, then queued, then how it ended. */
export function arrayState(tasks: Tasks): string {
  const c = taskCounts(tasks);
  if (c.running > 0) return 'RUNNING';
  if (c.queued > 0) return 'PENDING';
  if (c.failed > 0) return 'FAILED';
  if (c.cancelled > 0) return c.done > 0 ? 'PARTLY_CANCELLED' : 'CANCELLED';
  return 'COMPLETED';
}

/**
 * The file of one task from a path Slurm resolved for the array (`…/slurm-1234_4294967294.out`),
 * for another of its tasks (`…/slurm-1234_3.out`), or an unresolved `%A_%a` pattern.
 */
export function taskPath(path: string | null, arrayId: string, task: number): string | null {
  if (!path) return null;
  return path
    .replace(/%A/g, arrayId)
    .replace(/%a/g, String(task))
    // The array's own record says 4294967294 (no task yet); a task's record says its own id.
    .replace(new RegExp(`${arrayId}_(\\d+|\\*|\\[[^\\]]*\\])`, 'g'), `${arrayId}_${task}`);
}
