/**
 * A real Slurm for tests: munged with its own key and socket, slurmctld and one slurmd, all on
 * 127.0.0.1 in a temp dir, started by PID and stopped by PID. Clients (sbatch, squeue, scancel,
 * sinfo) find it through `SLURM_CONF` (see `env`), so the machine's own /etc/slurm is never
 * touched. The node is `localnode` with NodeAddr 127.0.0.1; partitions: `debug` (default,
 * OverSubscribe=FORCE so many test jobs fit) and `small` (one CPU, no oversubscription, for
 * queued-job tests).
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startProcess, type Started } from './util.js';

const run = promisify(execFile);

export interface Slurm {
  dir: string;
  conf: string;
  /** Environment for Slurm client commands (SLURM_CONF); merge into a spawner's env. */
  env: Record<string, string>;
  nodeName: string;
  /** Run a client command (squeue, sinfo, scontrol …) against this cluster. */
  client(cmd: string, args: string[]): Promise<string>;
  /** Stop slurmctld only (a controller outage); `startController()` brings it back. */
  stopController(): Promise<void>;
  startController(): Promise<void>;
  stop(): Promise<void>;
}

function uidOf(name: string): number {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name}`);
  return Number(line.split(':')[2]);
}

export interface SlurmSetup {
  /** Jobs per core in `debug` (OverSubscribe=FORCE:N); the Slurm benchmark runs 100 at once. */
  oversubscribe?: number;
}

export async function startSlurm(setup: SlurmSetup = {}): Promise<Slurm> {
  const dir = mkdtempSync(join(tmpdir(), 'atrium-slurm-'));
  chmodSync(dir, 0o755);
  for (const d of ['munge', 'ctld', 'spool', 'log']) mkdirSync(join(dir, d), { recursive: true });
  // munged refuses keys and sockets that others can write; its dir belongs to the munge user.
  const mungeUid = uidOf('munge');
  chownSync(join(dir, 'munge'), mungeUid, mungeUid);
  chmodSync(join(dir, 'munge'), 0o755);
  const keyFile = join(dir, 'munge', 'munge.key');
  await run('mungekey', ['-c', '-f', '-k', keyFile]);
  chownSync(keyFile, mungeUid, mungeUid);
  chmodSync(keyFile, 0o600);
  const socket = join(dir, 'munge', 'munge.socket');
  const munged = startProcess('runuser', ['-u', 'munge', '--', 'munged', '-F', '--force', `--key-file=${keyFile}`, `--socket=${socket}`,
    `--pid-file=${join(dir, 'munge', 'munged.pid')}`, `--log-file=${join(dir, 'munge', 'munged.log')}`, `--seed-file=${join(dir, 'munge', 'seed')}`]);
  await waitFor(() => existsSync(socket), 10_000, 'munged socket');

  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  const host = (await run('hostname', [])).stdout.trim();
  const nodeName = 'localnode';
  const cpuCount = Math.max(2, cpus().length);
  const memMb = Math.floor(totalmem() / 1024 / 1024 / 2);
  const conf = join(dir, 'slurm.conf');
  writeFileSync(conf, [
    'ClusterName=atriumtest',
    `SlurmctldHost=${host}(127.0.0.1)`,
    `SlurmctldPort=${ctldPort}`,
    `SlurmdPort=${slurmdPort}`,
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${socket}`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SchedulerType=sched/backfill',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_Core_Memory',
    'ReturnToService=2',
    'SlurmUser=root',
    `StateSaveLocation=${join(dir, 'ctld')}`,
    `SlurmdSpoolDir=${join(dir, 'spool')}`,
    `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
    `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
    `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
    `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
    'SlurmctldDebug=info',
    'SlurmdDebug=info',
    'MpiDefault=none',
    'JobCompType=jobcomp/none',
    'AccountingStorageType=accounting_storage/none',
    'InactiveLimit=0',
    'KillWait=5',
    'MinJobAge=300',
    'SlurmctldTimeout=60',
    'SlurmdTimeout=300',
    'Waittime=0',
    `NodeName=${nodeName} NodeHostname=${host} NodeAddr=127.0.0.1 CPUs=${cpuCount} RealMemory=${memMb} State=UNKNOWN`,
    `PartitionName=debug Nodes=${nodeName} Default=YES MaxTime=08:00:00 State=UP OverSubscribe=FORCE:${setup.oversubscribe ?? 20}`,
    `PartitionName=small Nodes=${nodeName} MaxTime=01:00:00 State=UP OverSubscribe=NO MaxCPUsPerNode=1`,
    '',
  ].join('\n'));
  chmodSync(conf, 0o644);
  const env = { SLURM_CONF: conf };
  const procEnv = { ...process.env, ...env };

  let ctld: Started | null = null;
  const client = async (cmd: string, args: string[]) => (await run(cmd, args, { env: procEnv, timeout: 30_000 })).stdout;
  const startController = async () => {
    ctld = startProcess('slurmctld', ['-D', '-f', conf], { env: procEnv });
    await waitFor(async () => client('scontrol', ['ping']).then((o) => /UP/.test(o), () => false), 30_000, 'slurmctld');
  };
  await startController();
  const slurmd = startProcess('slurmd', ['-D', '-f', conf, '-N', nodeName], { env: procEnv });
  await waitFor(async () => {
    const out = await client('sinfo', ['-h', '-N', '-o', '%T']).catch(() => '');
    return /idle|mixed|allocated/.test(out);
  }, 60_000, 'slurmd to register');

  return {
    dir,
    conf,
    env,
    nodeName,
    client,
    async stopController() {
      await ctld?.stop('SIGTERM', 10_000);
      ctld = null;
    },
    startController,
    async stop() {
      // Jobs first, so their processes do not outlive slurmd.
      await client('scancel', ['--full', '--user', 'root']).catch(() => undefined);
      await client('scancel', ['--full', '--state', 'PENDING']).catch(() => undefined);
      await slurmd.stop('SIGTERM', 10_000);
      await ctld?.stop('SIGTERM', 10_000);
      await munged.stop('SIGTERM', 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}
