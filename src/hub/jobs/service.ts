/**
 * The portal's job operations, shared by the REST API and the pages: submit (from a template or a
 * script), cancel, read output, list. Authorisation is the callers' (scopes, sessions); this file
 * decides who a job runs as and keeps the history.
 */
import type { Logger } from 'pino';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { now } from '../db/index.js';
import { atriumError } from '../errors.js';
import type { BatchJobs, BatchOutputChunk, JobIdentity } from '../../spawners/batch-jobs.js';
import type { JobsConfig } from './config.js';
import { PortalEvents } from './events.js';
import { jobModel } from './model.js';
import { bucketOf, parseTasks, taskPath } from './array.js';
import { fromScript, fromTemplate, type JobRequest } from './script.js';
import { JobStore, type JobRow, type JobWithUser } from './store.js';
import { JobTracker } from './tracker.js';

export class JobService {
  readonly store: JobStore;
  readonly events: PortalEvents;
  readonly tracker: JobTracker;

  constructor(
    private readonly hub: HubContext,
    readonly cfg: JobsConfig,
    readonly backend: BatchJobs,
    log: Logger,
  ) {
    this.store = new JobStore(hub.stores.db);
    this.events = new PortalEvents(hub.spawns);
    this.tracker = new JobTracker(backend, this.store, this.events, log);
  }

  start(): void {
    this.tracker.start();
  }

  close(): void {
    this.tracker.close();
    this.events.close();
  }

  /**
   * Who the job runs as: the user by name, or — when the backend runs commands by numeric id —
   * by the uid the LDAP account hook gave their last session (the hook runs at spawn only, so such
   * a user must have started a session once).
   */
  identity(user: { id: number; name: string }): JobIdentity {
    if (!this.backend.validUser(user.name)) throw atriumError('ATRIUM_ERR_JOB_BAD_REQUEST', 'Batch jobs need user names of letters, digits and _ . @ + - only');
    if (!this.backend.needsUid) return { user: user.name };
    for (const row of this.hub.stores.servers.ofUser(user.id)) {
      try {
        const st = JSON.parse(row.state) as { uid?: unknown; gid?: unknown };
        if (typeof st.uid === 'number' && st.uid > 0) return { user: user.name, uid: st.uid, gid: typeof st.gid === 'number' ? st.gid : st.uid };
      } catch {
        // not JSON: skip
      }
    }
    throw atriumError('ATRIUM_ERR_JOB_BAD_REQUEST', 'Start a notebook session once first: this hub learns your uid from it');
  }

  /** Parse a submission body: `{template, params}` or `{script, name}`; `from` resubmits a job's script. */
  request(user: UserRow, body: Record<string, unknown>): JobRequest {
    const allowed = ['template', 'params', 'script', 'name', 'array'];
    const extra = Object.keys(body).filter((k) => !allowed.includes(k));
    if (extra.length) throw atriumError('ATRIUM_ERR_JOB_BAD_REQUEST', `Unknown key(s): ${extra.slice(0, 5).join(', ').slice(0, 200)}`);
    if (body.template !== undefined && body.template !== null && body.template !== '') {
      const tpl = this.cfg.templates.find((t) => t.name === body.template);
      if (!tpl) throw atriumError('ATRIUM_ERR_JOB_BAD_REQUEST', `No job template named "${String(body.template).slice(0, 40)}"`);
      const params = body.params ?? {};
      if (typeof params !== 'object' || params === null || Array.isArray(params)) throw atriumError('ATRIUM_ERR_JOB_BAD_REQUEST', '"params" must be an object');
      return fromTemplate(this.cfg, tpl, params as Record<string, unknown>, { username: user.name, homedir: this.backend.homeDir(user.name) }, body.array);
    }
    return fromScript(this.cfg, body.script, body.name, body.array);
  }

  async submit(user: UserRow, req: JobRequest): Promise<JobWithUser> {
    const who = this.identity(user);
    const sub = await this.backend.submit(who, req.script, req.name);
    const row = this.store.insert({
      user_id: user.id,
      slurm_id: sub.id,
      name: req.name,
      template: req.template,
      params: JSON.stringify(req.params),
      script: req.script,
      state: 'PENDING',
      submitted_at: now(),
      array_spec: req.array?.spec ?? null,
      // Every task queued until the poller says otherwise: the counts are right from the start.
      tasks: JSON.stringify(req.array ? Object.fromEntries(req.array.tasks.map((t) => [String(t), { state: 'PENDING' }])) : {}),
    });
    this.store.update(row.id, { stdout_path: sub.stdout, stderr_path: sub.stderr });
    this.store.prune(user.id, this.cfg.historyLimit);
    this.tracker.watch(sub.id, row.id);
    const fresh = this.store.bySlurmId(sub.id)!;
    this.events.emit({ type: 'job', what: 'submitted', user: user.name, message: `Job ${sub.id} (${req.name}) submitted`, data: jobModel(fresh) });
    return fresh;
  }

  /** Cancel a job, a whole array, or (`task`) one task of an array. */
  async cancel(job: JobWithUser, task: string | null = null): Promise<void> {
    if (job.finished) throw atriumError('ATRIUM_ERR_JOB_FINISHED', `Job ${job.slurm_id} has already ended (${job.state})`);
    const owner = this.hub.stores.users.getById(job.user_id);
    if (!owner) throw atriumError('ATRIUM_ERR_JOB_NOT_FOUND');
    const t = task === null ? null : this.task(job, task);
    if (t !== null) {
      const st = parseTasks(job.tasks)[String(t)];
      if (st && bucketOf(st) !== 'queued' && bucketOf(st) !== 'running') throw atriumError('ATRIUM_ERR_JOB_FINISHED', `Task ${t} of job ${job.slurm_id} has already ended (${st.state})`);
    }
    // scancel as the job's owner, also when an admin asks: Slurm checks it is theirs.
    await this.backend.cancel(this.identity(owner), t === null ? job.slurm_id : `${job.slurm_id}_${t}`);
    // A queued task Slurm cancels vanishes from squeue at once: record it here, or it would
    // look merely gone. A running one shows CANCELLED in the next cycle anyway.
    if (t !== null) this.tracker.taskCancelled(job.slurm_id, t);
    this.tracker.nudge();
  }

  /** A task id of this array job, or 400. */
  private task(job: JobRow, raw: string): number {
    if (!job.array_spec) throw atriumError('ATRIUM_ERR_JOB_ARRAY_SPEC', `Job ${job.slurm_id} is not an array`);
    const tasks = parseTasks(job.tasks);
    if (!/^\d{1,7}$/.test(raw) || !Object.hasOwn(tasks, String(Number(raw)))) throw atriumError('ATRIUM_ERR_JOB_ARRAY_SPEC', `Job ${job.slurm_id} has no task ${raw.slice(0, 20)} (its array is ${job.array_spec})`);
    return Number(raw);
  }

  /** An array job needs `task`: each task writes its own files (`%A_%a`). */
  async output(job: JobRow, stream: 'stdout' | 'stderr', offset: number | null, task: string | null = null): Promise<BatchOutputChunk & { path: string }> {
    let path = stream === 'stdout' ? job.stdout_path : job.stderr_path ?? job.stdout_path;
    if (job.array_spec) {
      if (task === null) throw atriumError('ATRIUM_ERR_JOB_ARRAY_SPEC', `Job ${job.slurm_id} is an array: say which task's output (task=N)`);
      path = taskPath(path, job.slurm_id, this.task(job, task));
    } else if (task !== null) {
      throw atriumError('ATRIUM_ERR_JOB_ARRAY_SPEC', `Job ${job.slurm_id} is not an array`);
    }
    if (!path) throw atriumError('ATRIUM_ERR_JOB_OUTPUT_UNAVAILABLE', `Job ${job.slurm_id} has no ${stream} file recorded`);
    const owner = this.hub.stores.users.getById(job.user_id);
    if (!owner) throw atriumError('ATRIUM_ERR_JOB_NOT_FOUND');
    const chunk = await this.backend.readOutput(this.identity(owner), path, offset, this.cfg.outputMaxBytes);
    return { ...chunk, path };
  }

  /** A job by its Slurm id, or 404 (also for a job of a user the caller may not see: checked by callers). */
  get(slurmId: string): JobWithUser {
    const row = /^\d+(_\d+)?$/.test(slurmId) ? this.store.bySlurmId(slurmId) : undefined;
    if (!row) throw atriumError('ATRIUM_ERR_JOB_NOT_FOUND');
    return row;
  }
}
