/**
 * The web shell into a local server: a login shell on a pseudo-terminal, as the server process's
 * own uid, gid and supplementary groups, in its working directory, with its environment minus the
 * server's API token. Everything is read from /proc/<pid> of the running server rather than from
 * the spawn: after a hub restart the spawner has only the recorded pid, and /proc is the truth
 * about who the server really runs as (a pre-spawn hook may have chosen NB_UID).
 */
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { OWNER_ENV, SpawnError, type ShellOptions, type ShellSession } from '../spawner.js';
import { ptyShell } from '../pty-shell.js';
import { isAlive } from './proc.js';

const SETPRIV = '/usr/bin/setpriv';
/** Never handed to a shell: the server's credentials, and the tag the crash sweep looks for. */
const WITHHELD = new Set(['JUPYTERHUB_API_TOKEN', 'JPY_API_TOKEN', OWNER_ENV]);

interface ProcIdentity {
  uid: number;
  gid: number;
  groups: number[];
}

function procIdentity(pid: number): ProcIdentity {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => (status.split('\n').find((l) => l.startsWith(`${name}:`)) ?? '').slice(name.length + 1).trim();
  // Real, effective, saved, filesystem: the effective ids are what the server acts as.
  const uid = Number(field('Uid').split(/\s+/)[1]);
  const gid = Number(field('Gid').split(/\s+/)[1]);
  const groups = field('Groups').split(/\s+/).filter(Boolean).map(Number);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new Error(`cannot parse /proc/${pid}/status`);
  return { uid, gid, groups };
}

function procEnv(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const k = pair.slice(0, eq);
    if (!WITHHELD.has(k)) env[k] = pair.slice(eq + 1);
  }
  return env;
}

function loginShell(env: Record<string, string>): string {
  const wanted = env.SHELL;
  if (wanted && wanted.startsWith('/') && !wanted.includes('\0') && existsSync(wanted)) return wanted;
  return existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
}

export async function openLocalShell(server: { pid: number; procStartTicks: number | null }, opts: ShellOptions): Promise<ShellSession> {
  const { pid } = server;
  if (!isAlive(pid, server.procStartTicks ?? undefined)) throw new SpawnError('The server is not running', `pid ${pid} is gone`);
  let who: ProcIdentity;
  let env: Record<string, string>;
  let cwd: string;
  try {
    who = procIdentity(pid);
    env = procEnv(pid);
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch (err) {
    throw new SpawnError('The shell could not be started', `reading /proc/${pid}: ${(err as Error).message}`);
  }
  if (opts.signal.aborted) throw new SpawnError('The shell was cancelled');
  env.TERM = 'xterm-256color';
  const shell = loginShell(env);
  const hubUid = process.getuid?.() ?? -1;
  let file = shell;
  let args = ['-l'];
  if (who.uid !== hubUid) {
    if (who.uid === 0) throw new SpawnError('The shell could not be started', `refusing a root shell for pid ${pid}`);
    if (hubUid !== 0 || !existsSync(SETPRIV)) {
      throw new SpawnError('The shell could not be started', `the server runs as uid ${who.uid}; switching to it needs a root hub and ${SETPRIV}`);
    }
    // The same identity the server has, supplementary groups included (node-pty's uid/gid
    // options would drop them).
    const groups = who.groups.length ? `--groups=${who.groups.join(',')}` : '--clear-groups';
    file = SETPRIV;
    args = [`--reuid=${who.uid}`, `--regid=${who.gid}`, groups, '--', shell, '-l'];
  }
  return ptyShell({ file, args, cwd, env, cols: opts.cols, rows: opts.rows, description: `server pid ${pid}, uid ${who.uid}, ${shell}` });
}
