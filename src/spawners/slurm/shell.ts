/**
 * The web shell into a Slurm session: `srun --jobid <id> --overlap --pty bash -l` on a local
 * pseudo-terminal, run as the job's owner exactly as sbatch/scancel are (runAs hub, uid or sudo),
 * so Slurm itself places the shell inside the job's allocation on its node, with the job's
 * limits. srun gets the same minimal client environment as every other Slurm command: the
 * server's token is never in it. srun sits beside the configured sbatch (or on PATH).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SpawnError, type ShellOptions, type ShellSession } from '../spawner.js';
import { ptyShell } from '../pty-shell.js';
import { clientEnv } from './commands.js';
import type { SlurmSpawnerOptions } from './options.js';
import { fillNames } from './template.js';

const SETPRIV = '/usr/bin/setpriv';

export interface SlurmShellTarget {
  jobId: string;
  user: string;
  uid?: number;
  gid?: number;
}

export function openSlurmShell(options: SlurmSpawnerOptions, job: SlurmShellTarget, opts: ShellOptions): ShellSession {
  if (opts.signal.aborted) throw new SpawnError('The shell was cancelled');
  const sbatch = options.commands.sbatch;
  const srun = sbatch.includes('/') ? join(dirname(sbatch), 'srun') : 'srun';
  const inner = [srun, '--jobid', job.jobId, '--overlap', '--pty', '--quiet', '/bin/bash', '-l'];
  let argv: string[];
  switch (options.runAs) {
    case 'hub':
      argv = inner;
      break;
    case 'uid':
      if (job.uid === undefined || !existsSync(SETPRIV)) throw new SpawnError('The shell could not be started', 'runAs "uid" needs the job owner\'s uid and setpriv');
      argv = [SETPRIV, `--reuid=${job.uid}`, `--regid=${job.gid ?? job.uid}`, '--clear-groups', '--', ...inner];
      break;
    case 'sudo':
      argv = [...options.sudoPrefix.map((w) => fillNames(w, job.user, '')), ...inner];
      break;
  }
  const home = fillNames(options.homeDir, job.user, '');
  return ptyShell({
    file: argv[0]!,
    args: argv.slice(1),
    // srun starts the shell in the same directory on the node: the user's home when it exists here.
    cwd: existsSync(home) ? home : '/',
    env: { ...clientEnv(options), TERM: 'xterm-256color' },
    cols: opts.cols,
    rows: opts.rows,
    description: `slurm job ${job.jobId} (srun --overlap --pty) as ${job.user}`,
  });
}
