/**
 * Running Slurm client commands: as the hub (squeue, sinfo, scontrol — read-only queries) or as
 * the user (sbatch, scancel). Arguments never carry secrets; a job's environment reaches sbatch
 * through sbatch's own process environment, which no other user can read (/proc/PID/environ is
 * owner-only) and which Slurm keeps in its root-only state directory (checked against real Slurm:
 * `scontrol show job -dd`, `scontrol write batch_script` and `squeue -o %all` do not show it).
 */
import { spawn } from 'node:child_process';
import type { SlurmSpawnerOptions } from './options.js';
import { fillNames } from './template.js';

export class SlurmCommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (${exitCode === null ? 'killed' : `exit ${exitCode}`}): ${stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}`);
    this.name = 'SlurmCommandError';
  }
}

export interface RunOptions {
  env?: Record<string, string>;
  input?: string;
  uid?: number;
  gid?: number;
  timeoutMs?: number;
}

const BASE_ENV_NAMES = ['PATH', 'LANG', 'LC_ALL', 'TZ'];

/** A minimal environment for client commands: the hub's own secrets never reach Slurm. */
export function clientEnv(options: SlurmSpawnerOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of BASE_ENV_NAMES) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return { ...env, ...options.clientEnvironment };
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? {},
      uid: opts.uid,
      gid: opts.gid,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let errBytes = 0;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      if (errBytes < 65536) err.push(b);
      errBytes += b.length;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new SlurmCommandError(cmd, null, e.message));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) resolve(stdout);
      else reject(new SlurmCommandError(cmd, code, Buffer.concat(err).toString('utf8') || stdout));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * How to run a user-side command (sbatch, scancel) for one user under the configured runAs.
 * `env` is the whole environment of the command: with sudo -E it passes through sudo.
 */
export function asUser(
  options: SlurmSpawnerOptions,
  user: string,
  ids: { uid?: number; gid?: number },
  cmd: string,
  args: string[],
  opts: Omit<RunOptions, 'uid' | 'gid'> = {},
): Promise<string> {
  switch (options.runAs) {
    case 'hub':
      return run(cmd, args, opts);
    case 'uid':
      if (ids.uid === undefined) {
        return Promise.reject(new SlurmCommandError(cmd, null, 'runAs "uid" needs NB_UID from a pre-spawn hook (ldap-account) and a hub running as root'));
      }
      return run(cmd, args, { ...opts, uid: ids.uid, gid: ids.gid ?? ids.uid });
    case 'sudo': {
      const [sudo, ...rest] = options.sudoPrefix.map((w) => fillNames(w, user, ''));
      return run(sudo!, [...rest, cmd, ...args], opts);
    }
  }
}

/** `scontrol show …` output as key=value maps, one per record (blank-line separated). */
export function parseScontrol(text: string): Record<string, string>[] {
  const records: Record<string, string>[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    if (!block.trim()) continue;
    const rec: Record<string, string> = {};
    // Values may contain spaces only in a few free-text fields; keys are single words.
    for (const m of block.matchAll(/([A-Za-z][A-Za-z0-9_/:]*)=(\S*)/g)) {
      if (!(m[1]! in rec)) rec[m[1]!] = m[2]!;
    }
    records.push(rec);
  }
  return records;
}
