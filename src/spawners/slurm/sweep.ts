/**
 * Finds this hub's Slurm jobs without the database (spawner.ts, "Crash safety", step 4): every
 * job the spawner submits carries the spawn attempt's owner tag as its comment
 * (`sbatch --comment=<tag>`, set on the command line, where it wins over any `#SBATCH --comment`
 * of the template). One squeue over the whole queue lists them.
 *
 * A job comment is not a secret and a user who can run sbatch can set any comment, so a user
 * could make a job of their own look like one of ours. The worst that does is have the hub
 * cancel that job, as that job's own user (the state names the job's owner from squeue, and
 * scancel runs as them): nobody gains anything, and a forged tag is never adopted (adoption goes
 * by the database rows only).
 */
import type { Logger } from 'pino';
import type { OwnedObject } from '../spawner.js';
import { clientEnv, run } from './commands.js';
import type { SlurmSpawnerOptions } from './options.js';
import { ENDED_STATES } from './poller.js';
import { SAFE_NAME } from './submit.js';

/** Owner tags are `[A-Za-z0-9:_-]` (spawner.ts): nothing Slurm or a shell would mangle. */
export const OWNER_TAG = /^[A-Za-z0-9:_-]{1,200}$/;

const FORMAT = '%i|%u|%U|%G|%T|%k';

export async function sweepSlurm(options: SlurmSpawnerOptions, ownerPrefix: string, log: Logger): Promise<OwnedObject[]> {
  // Default states: pending, running, suspended, completing. Ended and completing jobs (cancelled
  // or done, their processes being killed) need no stopping.
  const out = await run(options.commands.squeue, ['-h', '-o', FORMAT], { env: clientEnv(options), timeoutMs: 60_000 });
  const found: OwnedObject[] = [];
  for (const line of out.split('\n')) {
    const f = line.trim().split('|');
    if (f.length < 6) continue;
    const [jobId, user, uid, gid, state] = f as [string, string, string, string, string];
    const tag = f.slice(5).join('|');
    if (!tag.startsWith(ownerPrefix) || !OWNER_TAG.test(tag) || ENDED_STATES.has(state) || state === 'COMPLETING') continue;
    if (!/^\d+(_\d+)?$/.test(jobId) || !SAFE_NAME.test(user)) {
      log.warn({ jobId, user }, 'a job carries this hub\'s owner tag but its id or user name is unusable; left alone');
      continue;
    }
    const ids = options.runAs === 'uid' && /^\d+$/.test(uid) ? { uid: Number(uid), gid: /^\d+$/.test(gid) ? Number(gid) : Number(uid) } : {};
    found.push({ tag, state: { jobId, user, ...ids }, description: `job ${jobId} of ${user} (${state})` });
  }
  return found;
}
