/**
 * From a spawn request to `sbatch --parsable`: the template variables (admin ones from config,
 * resource ones only from the validated request), the job environment and the sbatch call.
 *
 * The job environment — the server's token included — reaches the job through sbatch's own
 * process environment and `--export=NAMES`: names on the command line, values nowhere a
 * command line, the script (`scontrol write batch_script`) or `squeue`/`scontrol show job`
 * would show them. The hub's own environment is never exported (no `--export=ALL`).
 */
import { SpawnError } from '../spawner.js';
import { asUser, clientEnv } from './commands.js';
import { formatWalltime, type SlurmRequest } from './limits.js';
import type { SlurmSpawnerOptions } from './options.js';
import { fillNames, fillTemplate, safeWord, shellQuote, type TemplateVars } from './template.js';
import { WRAPPER_ENV, WRAPPER_PY } from './wrapper.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** User and server names end up in paths, the job name and the script: only plain words pass. */
export const SAFE_NAME = /^[A-Za-z0-9_.@+-]{1,64}$/;

export interface Submission {
  script: string;
  args: string[];
  env: Record<string, string>;
  exportNames: string[];
}

export interface SubmitIdentity {
  user: string;
  server: string;
  uid?: number;
  gid?: number;
}

export function jobEnvironment(options: SlurmSpawnerOptions, req: SlurmRequest, who: SubmitIdentity, hubEnv: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: options.path };
  for (const [k, v] of Object.entries(options.jobEnvironment)) env[k] = fillNames(v, who.user, who.server);
  Object.assign(env, hubEnv);
  const iface = options.interfaces.find((i) => i.name === req.interface);
  if (iface) env.JUPYTERHUB_DEFAULT_URL = iface.defaultUrl;
  env.ATRIUM_BIND_ADDRESS = options.bindAddress;
  env.ATRIUM_REPORT_URL = options.reportUrl ?? `${(hubEnv.JUPYTERHUB_API_URL ?? '').replace(/\/$/, '')}/batchspawner`;
  env[WRAPPER_ENV] = WRAPPER_PY;
  for (const k of Object.keys(env)) {
    if (!ENV_NAME.test(k)) throw new SpawnError(`environment variable name "${k.slice(0, 40)}" cannot be passed to a Slurm job`);
  }
  return env;
}

export function buildSubmission(options: SlurmSpawnerOptions, req: SlurmRequest, who: SubmitIdentity, hubEnv: Record<string, string>): Submission {
  if (!SAFE_NAME.test(who.user) || (who.server !== '' && !SAFE_NAME.test(who.server))) {
    throw new SpawnError('Slurm servers need user and server names of letters, digits and _ . @ + - only');
  }
  const env = jobEnvironment(options, req, who, hubEnv);
  const exportNames = Object.keys(env);
  const environment = options.environments.find((e) => e.name === req.environment);
  const part = options.partitions.find((p) => p.name === req.partition);
  const cmd = [
    environment?.prefix ?? '',
    shellQuote(options.python),
    '-c',
    `"$${WRAPPER_ENV}"`,
    ...options.cmd.map(shellQuote),
  ].filter(Boolean).join(' ');
  const vars: TemplateVars = {
    partition: req.partition,
    account: req.account,
    qos: options.qos,
    reservation: req.reservation,
    runtime: formatWalltime(req.walltime),
    memory: req.memory > 0 ? `${req.memory}M` : '',
    nprocs: String(req.cores),
    ngpus: req.gpus > 0 ? String(req.gpus) : '',
    gres: req.gpus > 0 ? `${part?.gres ?? 'gpu'}:${req.gpus}` : '',
    options: options.extraOptions,
    prologue: [options.prologue, environment?.setup ?? ''].filter(Boolean).join('\n'),
    epilogue: options.epilogue,
    srun: options.srun,
    keepvars: exportNames.join(','),
    homedir: fillNames(options.homeDir, who.user, who.server),
    username: who.user,
    servername: who.server,
    jobname: safeWord(fillNames(options.jobName, who.user, who.server)),
    cmd,
  };
  return {
    script: fillTemplate(options.batchScript, vars),
    // Command-line options win over #SBATCH lines: a template can never widen the export.
    args: ['--parsable', `--export=${exportNames.join(',')}`],
    env,
    exportNames,
  };
}

/** Submit; resolves with the job id. */
export async function submit(options: SlurmSpawnerOptions, sub: Submission, who: SubmitIdentity): Promise<string> {
  let out: string;
  try {
    out = await asUser(options, who.user, who, options.commands.sbatch, sub.args, {
      env: { ...clientEnv(options), ...sub.env },
      input: sub.script,
      timeoutMs: 60_000,
    });
  } catch (err) {
    throw new SpawnError(`Slurm refused the job: ${(err as Error).message.replace(/^.*?: /, '').slice(0, 300)}`, (err as Error).message);
  }
  const id = out.trim().split('\n').pop()!.split(';')[0]!.trim();
  if (!/^\d+(_\d+)?$/.test(id)) throw new SpawnError('sbatch did not print a job id', out.slice(0, 500));
  return id;
}
