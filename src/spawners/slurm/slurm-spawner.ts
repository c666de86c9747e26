/**
 * One user server as one Slurm batch job. start() submits, follows the job through the shared
 * poller (queued → running) and resolves once the job reported its port through the hub
 * (`report()`); a job that ends first fails the spawn with its state, reason and output tail.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { SpawnError, type PollResult, type ResumeContext, type ProgressEvent, type ShellOptions, type ShellSession, type SpawnContext, type Spawner, type SpawnerState, type SpawnUser, type StopOptions } from '../spawner.js';
import { expandNodeList, nodeInfo, userAccounts, userReservations } from './cluster-info.js';
import { asUser, clientEnv, parseScontrol, run } from './commands.js';
import { parseSlurmOptions } from './limits.js';
import type { SlurmSpawnerOptions } from './options.js';
import { ENDED_STATES, pollerFor, type JobInfo, type SlurmPoller } from './poller.js';
import { ProgressLog } from '../progress-log.js';
import { buildSubmission, SAFE_NAME, submit, type SubmitIdentity } from './submit.js';
import { OWNER_TAG } from './sweep.js';
import { openSlurmShell } from './shell.js';

interface Reported {
  host: string;
  port: number;
}

/**
 * squeue prints times in the controller's local time without a zone ("2026-11-30T19:00:00"); the
 * hub is assumed to share that zone (same site, same TZ), as JavaScript reads such a time.
 */
export function slurmTimeToIso(t: string | null): string | null {
  if (!t || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(t)) return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function isGone(job: JobInfo | undefined): boolean {
  return !job || ENDED_STATES.has(job.state);
}

export class SlurmSpawner implements Spawner {
  private jobId: string | null = null;
  private nodeList = '';
  private host: string | null = null;
  private port: number | null = null;
  private ids: { uid?: number; gid?: number } = {};
  /**
   * Whose job it is, from the state: a spawner made for a swept job has user name '' (spawner.ts),
   * yet scancel must run as the job's owner.
   */
  private owner: string | null = null;
  /** When the job's walltime ends (ISO), from squeue's end time while it runs. */
  private endsAt: string | null = null;
  /** The poller this spawner registered its job with (pollers are re-created after close()). */
  private watchedOn: SlurmPoller | null = null;
  private final: PollResult = null;
  private waiter: { resolve(r: Reported): void } | null = null;
  private progressQ: ProgressLog | null = null;

  constructor(
    private readonly options: SlurmSpawnerOptions,
    private readonly user: SpawnUser,
    private readonly serverName: string,
    private readonly log: Logger,
  ) {}

  private get poller(): SlurmPoller {
    return pollerFor(this.options);
  }

  private who(): SubmitIdentity {
    return { user: this.owner ?? this.user.name, server: this.serverName, ...this.ids };
  }

  async start(ctx: SpawnContext): Promise<{ url: string }> {
    this.progressQ = new ProgressLog();
    try {
      return await this.run(ctx);
    } finally {
      this.progressQ.end();
      if (this.jobId) this.watchedOn?.doneStarting(this.jobId);
      this.waiter = null;
    }
  }

  private emit(progress: number, message: string): void {
    this.progressQ?.push({ progress, message });
  }

  private async run(ctx: SpawnContext): Promise<{ url: string }> {
    const req = parseSlurmOptions(this.options, ctx.userOptions, this.user);
    if (req.account) {
      const own = await userAccounts(this.options, this.user.name);
      const offered = own ?? this.options.accounts.fallback;
      if (!offered.includes(req.account)) throw new SpawnError(`account: "${req.account}" is not one of your accounts (${offered.join(', ') || 'none'})`);
    }
    if (req.reservation) {
      const own = (await userAccounts(this.options, this.user.name)) ?? [];
      const res = await userReservations(this.options, this.user.name, this.user.groups, own);
      if (!res.some((r) => r.name === req.reservation)) throw new SpawnError(`reservation: "${req.reservation}" is not an active reservation you may use`);
    }
    if (this.options.runAs === 'uid') {
      const uid = Number(ctx.env.NB_UID);
      const gid = Number(ctx.env.NB_GID ?? ctx.env.NB_UID);
      if (!Number.isInteger(uid) || uid < 1) throw new SpawnError('runAs "uid" needs NB_UID from a pre-spawn hook (ldap-account)');
      this.ids = { uid, gid: Number.isInteger(gid) ? gid : uid };
    }
    if (!OWNER_TAG.test(ctx.ownerTag)) throw new Error(`owner tag ${JSON.stringify(ctx.ownerTag)} cannot be a Slurm job comment`);
    const sub = buildSubmission(this.options, req, this.who(), ctx.env);
    // The tag rides on the submission itself, so no job exists without it (crash safety).
    sub.args.push(`--comment=${ctx.ownerTag}`);
    ctx.signal.throwIfAborted();
    const reported = new Promise<Reported>((resolve) => (this.waiter = { resolve }));
    const jobId = await submit(this.options, sub, this.who());
    this.jobId = jobId;
    this.owner = this.user.name;
    // Before any other await: a hub killed from here on finds the job through its row.
    try {
      ctx.recordHandle(this.state());
    } catch (err) {
      // No record (the database refused the write): the job must not outlive this failed start.
      this.final = null;
      this.watchedOn = this.poller;
      this.watchedOn.watch(jobId, false);
      await this.cancel('handle not recorded', true).catch((e) => ctx.log.warn({ err: e, jobId }, 'scancel after a failed handle write failed'));
      throw err;
    }
    this.final = null;
    this.watchedOn = this.poller;
    this.watchedOn.watch(jobId, true);
    ctx.log.info({ jobId }, 'slurm job submitted');
    this.emit(10, `Submitted batch job ${jobId}`);
    return this.follow(ctx, reported);
  }

  /**
   * After a hub restart, a start that was interrupted while its job waited in the queue or ran
   * without having reported yet (spawner.ts, resume): wait for the report again. The job still
   * has the server's token, which the hub kept, so its report reaches this spawner. A job that had
   * already reported (host and port in the recorded handle) needs no second report.
   */
  async resume(ctx: ResumeContext): Promise<{ url: string }> {
    if (!this.jobId) throw new SpawnError('no Slurm job was recorded for this spawn');
    this.progressQ = new ProgressLog();
    // Before any await: the hub opens its gate after this call and the report may come at once.
    const reported = new Promise<Reported>((resolve) => (this.waiter = { resolve }));
    this.ensureWatching();
    this.watchedOn!.markStarting(this.jobId);
    try {
      if (this.host && this.port) return { url: urlOf(this.host, this.port) };
      this.emit(10, `Hub restarted; still waiting for batch job ${this.jobId}`);
      ctx.log.info({ jobId: this.jobId }, 'resuming the wait for a slurm job');
      return await this.follow(ctx, reported);
    } finally {
      this.progressQ.end();
      this.watchedOn?.doneStarting(this.jobId);
      this.waiter = null;
    }
  }

  /** Follow the submitted job through the poller until it reports its port, ends, or the hub gives up. */
  private async follow(ctx: ResumeContext, reported: Promise<Reported>): Promise<{ url: string }> {
    const jobId = this.jobId!;
    const aborted = new Promise<'aborted'>((resolve) => {
      if (ctx.signal.aborted) resolve('aborted');
      ctx.signal.addEventListener('abort', () => resolve('aborted'), { once: true });
    });
    let lastMessage = '';
    for (;;) {
      this.ensureWatching();
      const next = await Promise.race([this.watchedOn!.nextCycle(), reported, aborted]);
      if (next === 'aborted') {
        await this.cancel('spawn cancelled').catch((err) => ctx.log.warn({ err, jobId }, 'scancel after abort failed'));
        throw new SpawnError('The spawn was cancelled; the job was removed from the queue.');
      }
      if ('port' in next) {
        this.host = next.host;
        this.port = next.port;
        this.emit(90, `Server reported port ${next.port} on ${next.host}`);
        ctx.recordHandle(this.state());
        return { url: urlOf(next.host, next.port) };
      }
      if (!next.ok) {
        const msg = 'The Slurm controller does not answer; still waiting for the job';
        if (msg !== lastMessage) this.emit(15, (lastMessage = msg));
        continue;
      }
      if (!next.covered.has(jobId)) continue; // a cycle that started before the job was registered
      const job = next.jobs.get(jobId);
      if (job?.nodeList) this.nodeList = job.nodeList;
      if (isGone(job) || job!.state === 'COMPLETING') {
        // The report may have raced the end of the job: a reported port still wins.
        const late = await Promise.race([reported, new Promise<null>((r) => setTimeout(() => r(null), 50))]);
        if (late) continue;
        throw await this.endedEarly(job);
      }
      let msg: string;
      if (job!.state === 'PENDING') {
        msg = `Queued (${job!.reason}${job!.startTime ? `, estimated start ${job!.startTime}` : ''})`;
        if (msg !== lastMessage) this.emit(20, msg);
      } else if (job!.state === 'RUNNING') {
        this.endsAt = slurmTimeToIso(job!.endTime) ?? this.endsAt;
        msg = `Running on node ${job!.nodeList}, starting the server`;
        if (msg !== lastMessage) this.emit(50, msg);
      } else {
        msg = `Job ${jobId} is ${job!.state}${job!.reason && job!.reason !== 'None' ? ` (${job!.reason})` : ''}`;
        if (msg !== lastMessage) this.emit(30, msg);
      }
      lastMessage = msg;
    }
  }

  /** The job ended before its server reported: its state, reason and the tail of its output. */
  private async endedEarly(job: JobInfo | undefined): Promise<SpawnError> {
    const id = this.jobId!;
    this.stopWatching();
    const what = job ? `${job.state}${job.reason && job.reason !== 'None' ? ` (${job.reason})` : ''}` : 'no longer known to Slurm';
    this.final = { exitStatus: null, reason: `job ${id} ${what}` };
    let tail = '';
    try {
      const rec = parseScontrol(await run(this.options.commands.scontrol, ['show', 'job', '-o', id], { env: clientEnv(this.options) }))[0];
      const file = rec?.StdOut;
      if (file && file.startsWith('/') && this.options.outputTailLines > 0) {
        const text = await readFile(file, 'utf8');
        tail = text.trimEnd().split('\n').slice(-this.options.outputTailLines).join('\n');
      }
    } catch {
      // The output may live on a file system the hub cannot read: the state alone must do.
    }
    return new SpawnError(`Slurm job ${id} ended before the server started: ${what}${tail ? `\n${tail}` : ''}`, tail);
  }

  /**
   * A port report from the job (POST /hub/api/batchspawner with the server's token). Accepted
   * only while start() waits for it, for a port in range, and for a host that is one of the
   * job's own nodes (NodeName, NodeHostName or NodeAddr); the hub connects to that node's
   * NodeAddr unless `connectTo` is "reported-host".
   */
  async report(r: { host: string | null; port: number; peer: string }): Promise<void> {
    if (!this.waiter || !this.jobId) throw new SpawnError('this server is not waiting for a port report');
    if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) throw new SpawnError('port must be an integer from 1 to 65535');
    const snap = await (this.watchedOn ?? this.poller).fresh(this.jobId);
    const job = snap.ok ? snap.jobs.get(this.jobId) : undefined;
    if (!snap.ok) throw new SpawnError('Slurm does not answer; cannot check where the job runs');
    if (!job || job.state !== 'RUNNING') throw new SpawnError(`job ${this.jobId} is not running`);
    this.endsAt = slurmTimeToIso(job.endTime) ?? this.endsAt;
    const nodes = await Promise.all((await expandNodeList(this.options, job.nodeList)).map((n) => nodeInfo(this.options, n)));
    if (nodes.length === 0) throw new SpawnError(`job ${this.jobId} runs on no node`);
    let node = nodes[0]!;
    if (r.host !== null) {
      const hit = nodes.find((n) => [n.name, n.hostname, n.addr].includes(r.host!));
      if (!hit) {
        this.log.warn({ jobId: this.jobId, host: r.host, peer: r.peer, nodes: job.nodeList }, 'port report for a host the job does not run on');
        throw new SpawnError(`host "${r.host.slice(0, 100)}" is not a node of job ${this.jobId}`);
      }
      node = hit;
    }
    if (!this.waiter) throw new SpawnError('this server is not waiting for a port report');
    const host = this.options.connectTo === 'reported-host' && r.host !== null ? r.host : node.addr;
    this.log.info({ jobId: this.jobId, host, port: r.port, peer: r.peer }, 'port report accepted');
    this.waiter.resolve({ host, port: r.port });
    this.waiter = null;
  }

  async stop(opts: StopOptions = {}): Promise<void> {
    if (!this.jobId) return;
    await this.cancel(opts.immediate ? 'immediate stop' : 'stop', opts.immediate === true);
  }

  /**
   * SIGTERM (graceful), then scancel after stopTimeoutSeconds; resolves once the job is gone.
   * `immediate`: scancel at once, and a job Slurm lists as COMPLETING (cancelled, its processes
   * being killed) counts as gone, so a restore never waits KillWait per job.
   */
  private async cancel(why: string, immediate = false): Promise<void> {
    const id = this.jobId!;
    this.ensureWatching();
    const scancel = (args: string[]) =>
      asUser(this.options, this.who().user, this.ids, this.options.commands.scancel, [...args, id], { env: clientEnv(this.options) });
    const gone = (j: JobInfo | undefined) => isGone(j) || (immediate && j?.state === 'COMPLETING');
    let snap = await this.poller.fresh(id);
    let job = snap.ok ? snap.jobs.get(id) : undefined;
    if (snap.ok && gone(job)) return this.markStopped(job, why);
    if (!immediate && job?.state === 'RUNNING' && this.options.stopTimeoutSeconds > 0) {
      // With srun the server is a job step: TERM to the steps lets it exit cleanly and the script
      // finish (COMPLETED). Without srun it runs in the batch shell, which needs --full.
      await scancel([...(this.options.srun.trim() ? [] : ['--full']), '--signal=TERM']).catch((err) => this.log.info({ err: (err as Error).message, jobId: id }, 'scancel --signal=TERM failed'));
      const deadline = Date.now() + this.options.stopTimeoutSeconds * 1000;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        snap = await this.poller.fresh(id);
        job = snap.ok ? snap.jobs.get(id) : undefined;
        if (snap.ok && isGone(job)) return this.markStopped(job, why);
      }
    }
    // Then for good; the controller may be briefly away, so retry before giving up.
    const deadline = Date.now() + 60_000;
    let lastErr: unknown = null;
    let cancelled = false;
    while (Date.now() < deadline) {
      if (!cancelled) {
        try {
          await scancel([]);
          cancelled = true;
        } catch (err) {
          lastErr = err;
        }
      }
      snap = await this.poller.fresh(id);
      job = snap.ok ? snap.jobs.get(id) : undefined;
      if (snap.ok && gone(job)) return this.markStopped(job, why);
      await new Promise((r) => setTimeout(r, immediate ? 200 : 500));
    }
    throw new SpawnError(`Slurm job ${id} could not be cancelled`, String((lastErr as Error | null)?.message ?? 'still listed'));
  }

  private markStopped(job: JobInfo | undefined, why: string): void {
    this.final = { exitStatus: null, reason: `job ${this.jobId} ${job ? job.state : 'gone'} (${why})` };
    this.stopWatching();
  }

  private stopWatching(): void {
    if (this.watchedOn && this.jobId) this.watchedOn.unwatch(this.jobId);
    this.watchedOn = null;
  }

  /** Register with the current poller (a closed one is replaced, e.g. after a hub restart). */
  private ensureWatching(): void {
    const current = this.poller;
    if (this.watchedOn === current || !this.jobId) return;
    this.stopWatching();
    current.watch(this.jobId, false);
    this.watchedOn = current;
  }

  async poll(): Promise<PollResult> {
    if (!this.jobId) return { exitStatus: null, reason: 'not started' };
    if (this.final) return this.final;
    this.ensureWatching();
    const snap = await this.watchedOn!.snapshotFor(this.jobId);
    if (!snap.ok) return null; // the controller is unreachable: unknown, so the server is kept
    const job = snap.jobs.get(this.jobId);
    if (!job || isGone(job) || job.state === 'COMPLETING') {
      this.final = { exitStatus: job?.state === 'COMPLETED' ? 0 : null, reason: `job ${this.jobId} ${job ? `${job.state} (${job.reason})` : 'is no longer known to Slurm'}` };
      this.stopWatching();
      return this.final;
    }
    if (job.nodeList) this.nodeList = job.nodeList;
    if (job.state === 'RUNNING') this.endsAt = slurmTimeToIso(job.endTime) ?? this.endsAt;
    return null;
  }

  async shell(opts: ShellOptions): Promise<ShellSession> {
    if (!this.jobId) throw new SpawnError('The server is not running', 'no job recorded');
    return openSlurmShell(this.options, { jobId: this.jobId, ...this.ids, user: this.who().user }, opts);
  }

  state(): SpawnerState {
    if (!this.jobId) return {};
    return { jobId: this.jobId, user: this.who().user, nodeList: this.nodeList, host: this.host, port: this.port, endsAt: this.endsAt, ...this.ids };
  }

  restore(state: SpawnerState): void {
    const id = typeof state.jobId === 'string' && /^\d+(_\d+)?$/.test(state.jobId) ? state.jobId : null;
    if (!id) return;
    this.stopWatching();
    this.jobId = id;
    this.nodeList = typeof state.nodeList === 'string' ? state.nodeList : '';
    this.host = typeof state.host === 'string' ? state.host : null;
    this.port = typeof state.port === 'number' ? state.port : null;
    this.endsAt = typeof state.endsAt === 'string' ? state.endsAt : null;
    this.owner = typeof state.user === 'string' && SAFE_NAME.test(state.user) ? state.user : null;
    if (typeof state.uid === 'number') this.ids = { uid: state.uid, gid: typeof state.gid === 'number' ? state.gid : state.uid };
    this.final = null;
    // Registering makes the shared poller (re)start after a hub restart.
    this.ensureWatching();
  }

  progress(): AsyncIterable<ProgressEvent> {
    return (this.progressQ ?? ProgressLog.ended()).read();
  }
}
