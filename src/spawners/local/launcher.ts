/**
 * The launcher: a small long-lived child of the hub that forks the local servers for it
 * (issue 15 item 1, decision 0024).
 *
 * Why: `child_process.spawn()` is synchronous in the calling process: libuv forks, then waits until
 * the child has exec'd. A fork copies the parent's page tables, so the cost grows with the parent's
 * memory: measured on the 2-core bench machine under load, 10 ms from a 45 MB process, 40 ms from a
 * 144 MB one, 90 ms from 344 MB, each a stall of the hub's event loop (every login and pending page
 * waits behind it). The launcher is a bare Node process (no modules but child_process and fs), so
 * its forks stay cheap, and the hub only sends it one IPC message per start and never blocks.
 *
 * The launcher runs from a source string (`node -e`) rather than a file next to this module, so it
 * works the same from dist/, from a bundle and from the TypeScript sources in tests. It opens the
 * server's log itself (file descriptors cannot travel over the IPC channel), with O_NOFOLLOW like
 * the hub. It exits when the hub goes (the channel closes); the servers are detached in their own
 * session and keep running, exactly as when the hub forked them.
 *
 * If the launcher cannot be started or dies, starts fall back to forking in the hub, and exits of
 * servers it had launched are judged from /proc by poll() (see LocalSpawner).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { isAlive } from './proc.js';

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  error?: string;
}

/** A started server process: its PID (undefined if it could not be started) and its exit. */
export interface Launched {
  pid: number | undefined;
  /** Resolves when the process exits (or could not be started); never rejects. */
  exited: Promise<ExitInfo>;
}

export interface LaunchRequest {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  uid?: number;
  gid?: number;
  /** Where stdout and stderr go (appended; the hub created and checked the file). */
  logPath: string;
}

// CommonJS, run with `node -e`: messages {id, file, args, env, cwd, uid, gid, logPath} in,
// {id, pid} or {id, error} and later {id, exit: {code, signal}} out.
const LAUNCHER_SOURCE = `
'use strict';
const { spawn } = require('node:child_process');
const { openSync, closeSync, constants: C } = require('node:fs');
process.title = 'atrium-launcher';
process.on('disconnect', () => process.exit(0));
process.on('message', (m) => {
  const send = (msg) => { if (process.connected) process.send(msg); };
  let fd = -1;
  try {
    fd = openSync(m.logPath, C.O_WRONLY | C.O_APPEND | C.O_NOFOLLOW);
    const opts = { env: m.env, cwd: m.cwd, detached: true, stdio: ['ignore', fd, fd] };
    if (typeof m.uid === 'number') Object.assign(opts, { uid: m.uid, gid: m.gid });
    const child = spawn(m.file, m.args, opts);
    let answered = false;
    child.once('error', (err) => {
      if (!answered) { answered = true; send({ id: m.id, error: err.message }); }
      else send({ id: m.id, exit: { code: null, signal: null, error: err.message } });
    });
    if (child.pid !== undefined) { answered = true; send({ id: m.id, pid: child.pid }); }
    child.once('exit', (code, signal) => send({ id: m.id, exit: { code, signal } }));
  } catch (err) {
    send({ id: m.id, error: String(err && err.message || err) });
  } finally {
    if (fd >= 0) closeSync(fd);
  }
});
`;

interface Pending {
  /** With a PID, or undefined when the program could not be started. */
  resolve: (pid: number | undefined) => void;
  /** Only for launcher trouble (not running, channel closed): the caller forks itself. */
  reject: (err: Error) => void;
  exit: (e: ExitInfo) => void;
  pid?: number;
  /** The launcher asked: a replaced launcher's death concerns only its own requests. */
  by: ChildProcess;
}

let launcher: ChildProcess | null = null;
let nextId = 1;
const requests = new Map<number, Pending>();

function started(): ChildProcess {
  if (launcher && launcher.connected) return launcher;
  // Small heap flags: it holds nothing but a map of pending requests.
  const child = spawn(process.execPath, ['--max-old-space-size=16', '--max-semi-space-size=1', '-e', LAUNCHER_SOURCE], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    serialization: 'json',
    env: {},
  });
  launcher = child;
  child.on('message', (raw) => {
    const m = raw as { id: number; pid?: number; error?: string; exit?: ExitInfo };
    const r = requests.get(m.id);
    if (!r) return;
    if (m.exit) {
      requests.delete(m.id);
      r.exit(m.exit);
    } else if (m.error !== undefined) {
      requests.delete(m.id);
      r.exit({ code: null, signal: null, error: m.error });
      r.resolve(undefined);
    } else if (typeof m.pid === 'number') {
      r.pid = m.pid;
      r.resolve(m.pid);
    }
    refWhileAsking();
  });
  const gone = () => {
    if (launcher === child) launcher = null;
    for (const [id, r] of requests) {
      if (r.by !== child) continue;
      requests.delete(id);
      if (r.pid === undefined) {
        r.reject(new Error('the launcher stopped before answering'));
        r.exit({ code: null, signal: null, error: 'the launcher stopped' });
      } else if (!isAlive(r.pid)) {
        r.exit({ code: null, signal: null, error: 'exited (status unknown: the launcher stopped)' });
      }
      // Still alive: no exit event will come; the spawner's poll() watches /proc instead.
    }
  };
  child.once('exit', gone);
  child.once('error', gone);
  child.unref();
  refWhileAsking();
  return child;
}

/** The channel keeps the hub alive only while a start waits for its PID (like an unref'd child). */
function refWhileAsking(): void {
  const ch = launcher?.channel;
  if (!ch) return;
  const asking = [...requests.values()].some((r) => r.pid === undefined);
  if (asking) ch.ref();
  else ch.unref();
}

function askLauncher(req: LaunchRequest): Promise<Launched> {
  const child = started();
  const id = nextId++;
  let exit!: (e: ExitInfo) => void;
  const exited = new Promise<ExitInfo>((resolve) => (exit = resolve));
  return new Promise<Launched>((resolve, reject) => {
    requests.set(id, { resolve: (pid) => resolve({ pid, exited }), reject, exit, by: child });
    const ok = child.send({ id, ...req }, (err) => {
      if (!err) return;
      requests.delete(id);
      reject(err);
    });
    if (!ok && !child.connected) {
      requests.delete(id);
      reject(new Error('the launcher is not connected'));
    }
    refWhileAsking();
  });
}

/** Fork in this process: the fallback, and `spawner.local.launcher: false`. */
export function launchHere(req: LaunchRequest, fd: number): Launched {
  const opts: SpawnOptions = { env: req.env, cwd: req.cwd, detached: true, stdio: ['ignore', fd, fd] };
  if (req.uid !== undefined) Object.assign(opts, { uid: req.uid, gid: req.gid });
  const child = spawn(req.file, req.args, opts);
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) => resolve({ code: null, signal: null, error: err.message }));
  });
  child.unref();
  return { pid: child.pid, exited };
}

/**
 * Start a server process through the launcher. A program that could not be run (ENOENT, EACCES)
 * comes back as a Launched without a PID whose `exited` carries the error, like a failed spawn()
 * in process; trouble with the launcher itself rejects, so the caller can fork itself instead.
 */
export function launch(req: LaunchRequest): Promise<Launched> {
  return askLauncher(req);
}

/** For tests: the launcher's PID, if one runs. */
export function launcherPid(): number | undefined {
  return launcher?.connected ? launcher.pid : undefined;
}
