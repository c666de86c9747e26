/**
 * The Slurm side of portal batch jobs (../batch-jobs.ts), run exactly as the Slurm spawner runs its own (runAs: sudo,
 * uid or hub; client commands with the hub's clean client environment; the script on stdin).
 *
 * Output files are read as the job's user, never as the hub: their paths come from the job
 * (`#SBATCH --output` is the user's to choose), so a hub running as root that opened them itself
 * would follow a symlink the user planted to any file on the machine. `stat` (which does not
 * follow links: a link is refused) and `dd` with byte offsets run through the same runAs as
 * sbatch, so sudoers must allow them for the hub too (docs/portal.md).
 */
import { SpawnError } from '../spawner.js';
import type { BatchCycle, BatchFinal, BatchJobs, BatchJobStatus, BatchOutputChunk, JobIdentity } from '../batch-jobs.js';
import { asUser, clientEnv, parseScontrol, run } from './commands.js';
import type { SlurmSpawnerOptions } from './options.js';
import { fillNames, safeWord } from './template.js';
import { atriumError } from '../../shared/errors.js';
import { ENDED_STATES, onSlurmCycle, pollerFor } from './poller.js';
import { slurmTimeToIso } from './slurm-spawner.js';
import { SAFE_NAME } from './submit.js';

/** Marks portal jobs in squeue (the spawner's sweep looks for its owner tags, never this). */
export const PORTAL_COMMENT = 'atrium-portal-job';

export function homeDirOf(options: SlurmSpawnerOptions, user: string): string {
  return fillNames(options.homeDir, user, '');
}

interface Submitted {
  slurmId: string;
  stdout: string | null;
  stderr: string | null;
}

export async function submitJob(options: SlurmSpawnerOptions, who: JobIdentity, script: string, name: string): Promise<Submitted> {
  const args = ['--parsable', `--job-name=${safeWord(name).slice(0, 64)}`, `--chdir=${homeDirOf(options, who.user)}`, `--comment=${PORTAL_COMMENT}`];
  let out: string;
  try {
    out = await asUser(options, who.user, who, options.commands.sbatch, args, {
      env: { ...clientEnv(options), PATH: options.path },
      input: script,
      timeoutMs: 60_000,
    });
  } catch (err) {
    const msg = (err as Error).message.replace(/^.*?: /, '').replace(/^sbatch: error: /gm, '').trim();
    // The controller away is not the user's fault: 503 with Retry-After, not a refusal.
    if (/Unable to contact slurm controller|Socket timed out|Connection refused|timed out/i.test(msg)) {
      throw atriumError('ATRIUM_ERR_SPAWNER_UNAVAILABLE', undefined, { detail: (err as Error).message, headers: { 'Retry-After': '10' } });
    }
    throw atriumError('ATRIUM_ERR_JOB_REFUSED', `Slurm refused the job: ${msg.slice(0, 400)}`, { detail: (err as Error).message });
  }
  const slurmId = out.trim().split('\n').pop()!.split(';')[0]!.trim();
  if (!/^\d+(_\d+)?$/.test(slurmId)) throw atriumError('ATRIUM_ERR_JOB_REFUSED', 'sbatch did not print a job id', { detail: out.slice(0, 500) });
  // Where the job writes: the script may have chosen its own files, Slurm resolved %j and co.
  let stdout: string | null = null;
  let stderr: string | null = null;
  try {
    const rec = parseScontrol(await run(options.commands.scontrol, ['show', 'job', '-o', slurmId], { env: clientEnv(options) }))[0];
    stdout = rec?.StdOut || null;
    stderr = rec?.StdErr || null;
  } catch {
    // The controller went away right after accepting the job: the next lookup fills them in.
  }
  return { slurmId, stdout, stderr };
}

export async function cancelJob(options: SlurmSpawnerOptions, who: JobIdentity, slurmId: string): Promise<void> {
  try {
    await asUser(options, who.user, who, options.commands.scancel, [slurmId], { env: clientEnv(options), timeoutMs: 30_000 });
  } catch (err) {
    throw atriumError('ATRIUM_ERR_SPAWNER_UNAVAILABLE', undefined, { detail: (err as Error).message, headers: { 'Retry-After': '5' } });
  }
}

type FinalInfo = BatchFinal;

/**
 * How finished jobs ended: one `sacct` for all of them; where accounting is off (sacct fails),
 * `scontrol show job` per job while the controller still remembers it (MinJobAge).
 */
export async function finalInfo(options: SlurmSpawnerOptions, ids: string[]): Promise<Map<string, FinalInfo>> {
  const out = new Map<string, FinalInfo>();
  if (!ids.length) return out;
  try {
    const text = await run(options.commands.sacct, ['-n', '-P', '-X', '-j', ids.join(','), '-o', 'JobID,State,ExitCode,Elapsed'], { env: clientEnv(options), timeoutMs: 30_000 });
    for (const line of text.split('\n')) {
      const [id, state, exit, elapsed] = line.trim().split('|');
      // An array's tasks come as <array>_<task> under the array's id.
      if (id && (ids.includes(id) || ids.includes(id.split('_')[0]!))) out.set(id, { state: (state ?? '').split(' ')[0]!, exitCode: exit || null, elapsed: elapsed || null });
    }
    if (out.size) return out;
  } catch {
    // No accounting storage (a small cluster, the test cluster): ask the controller instead.
  }
  for (const id of ids) {
    try {
      const recs = parseScontrol(await run(options.commands.scontrol, ['show', 'job', '-o', id], { env: clientEnv(options), timeoutMs: 15_000 }));
      for (const rec of recs) {
        const fin = { state: rec.JobState ?? 'UNKNOWN', exitCode: rec.ExitCode ?? null, elapsed: rec.RunTime ?? null, stdout: rec.StdOut || null, stderr: rec.StdErr || null };
        // An array lists one record per task (ArrayTaskId a number) and one for a pending range.
        if (rec.ArrayJobId === id && rec.ArrayTaskId && /^\d+$/.test(rec.ArrayTaskId)) out.set(`${id}_${rec.ArrayTaskId}`, fin);
        else if (!out.has(id)) out.set(id, fin);
      }
    } catch {
      // Forgotten by the controller and no accounting: the state from squeue is all there is.
    }
  }
  return out;
}

type OutputChunk = BatchOutputChunk;

/**
 * Up to `max` bytes of a job's file from `offset` (or its last `max` bytes when offset is null),
 * read as the job's user.
 */
export async function readOutput(options: SlurmSpawnerOptions, who: JobIdentity, path: string, offset: number | null, max: number): Promise<OutputChunk> {
  if (!path.startsWith('/') || /[\n\0]/.test(path)) throw atriumError('ATRIUM_ERR_JOB_OUTPUT_UNAVAILABLE', 'The output path is not an absolute file path');
  const env = clientEnv(options);
  let size: number;
  try {
    const st = (await asUser(options, who.user, who, 'stat', ['-c', '%s|%F', '--', path], { env, timeoutMs: 10_000 })).trim();
    const [s, type] = st.split('|');
    if (type !== 'regular file' && type !== 'regular empty file') throw new SpawnError(`not a regular file (${type})`);
    size = Number(s);
  } catch (err) {
    throw atriumError('ATRIUM_ERR_JOB_OUTPUT_UNAVAILABLE', `The file ${path.slice(0, 300)} cannot be read yet`, { detail: (err as Error).message });
  }
  const start = offset === null ? Math.max(0, size - max) : Math.min(offset, size);
  if (start >= size) return { size, offset: start, text: '' };
  const text = await asUser(options, who.user, who, 'dd', [`if=${path}`, 'iflag=skip_bytes,count_bytes', `skip=${start}`, `count=${max}`, 'bs=65536', 'status=none'], { env, timeoutMs: 15_000 }).catch((err: Error) => {
    throw atriumError('ATRIUM_ERR_JOB_OUTPUT_UNAVAILABLE', `The file ${path.slice(0, 300)} cannot be read`, { detail: err.message });
  });
  return { size, offset: start, text };
}

/** The portal's view of this cluster: the spawner's commands, identity rules and poller. */
export function slurmBatchJobs(options: SlurmSpawnerOptions): BatchJobs {
  return {
    needsUid: options.runAs === 'uid',
    validUser: (name) => SAFE_NAME.test(name),
    homeDir: (user) => homeDirOf(options, user),
    submit: async (who, script, name) => {
      const s = await submitJob(options, who, script, name);
      return { id: s.slurmId, stdout: s.stdout, stderr: s.stderr };
    },
    cancel: (who, id) => cancelJob(options, who, id),
    finalInfo: (ids) => finalInfo(options, ids),
    readOutput: (who, path, offset, max) => readOutput(options, who, path, offset, max),
    watch: (id) => pollerFor(options).watch(id, false),
    unwatch: (id) => pollerFor(options).unwatch(id),
    refresh: () => void pollerFor(options).refresh(),
    onCycle: (listener) =>
      onSlurmCycle((snap, opts) => {
        // Only cycles of this cluster's poller (one per squeue command, environment and interval).
        if (pollerFor(opts) !== pollerFor(options)) return;
        if (!snap.ok) return listener({ ok: false });
        const jobs = new Map<string, BatchJobStatus>();
        for (const [id, j] of snap.jobs) {
          jobs.set(id, {
            id,
            state: j.state,
            reason: j.reason === 'None' ? '' : j.reason,
            nodeList: j.nodeList,
            startedAt: slurmTimeToIso(j.startTime),
            timeUsed: j.timeUsed ?? null,
            timeLeft: j.timeLeft ?? null,
            ended: ENDED_STATES.has(j.state),
          });
        }
        const cycle: BatchCycle = { ok: true, covered: snap.covered, jobs };
        listener(cycle);
      }),
  };
}
