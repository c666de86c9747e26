/** The JSON shape of a job in /hub/api/jobs, the SSE events and the pages' scripts. */
import type { JobRow, JobWithUser } from './store.js';

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
    ...(withScript ? { script: row.script } : {}),
  };
}
