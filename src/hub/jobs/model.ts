/** The JSON shape of a job in /hub/api/jobs, the SSE events and the pages' scripts. */
import type { JobRow, JobWithUser } from './store.js';
import { bucketOf, parseTasks, taskCounts } from './array.js';

/** A job array's part of the model: the spec, per-task states and the counts; null for a plain job. */
export function arrayModel(row: Pick<JobRow, 'array_spec' | 'tasks'>): Record<string, unknown> | null {
  if (!row.array_spec) return null;
  const tasks = parseTasks(row.tasks);
  return {
    spec: row.array_spec,
    counts: taskCounts(tasks),
    tasks: Object.entries(tasks)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([id, t]) => ({ id: Number(id), state: t.state, status: bucketOf(t), reason: t.reason ?? null, node: t.node ?? null, exit_code: t.exit ?? null, elapsed: t.elapsed ?? null })),
  };
}

export function jobModel(row: JobRow & Partial<Pick<JobWithUser, 'user_name'>>, withScript = false): Record<string, unknown> {
  let params: unknown = {};
  try {
    params = JSON.parse(row.params);
  } catch {
    // stored by this code as JSON; an unreadable value just shows as empty
  }
  return {
    id: row.slurm_id,
    user: row.user_name ?? null,
    name: row.name,
    template: row.template,
    params,
    state: row.state,
    reason: row.reason || null,
    node_list: row.node_list || null,
    submitted: row.submitted_at,
    started: row.started_at,
    ended: row.ended_at,
    elapsed: row.time_used,
    time_left: row.time_left,
    exit_code: row.exit_code,
    stdout: row.stdout_path,
    stderr: row.stderr_path,
    active: row.finished === 0,
    array: arrayModel(row),
    ...(withScript ? { script: row.script } : {}),
  };
}
