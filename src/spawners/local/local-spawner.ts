/**
 * LocalSpawner: one single-user server as a local process (JupyterHub's LocalProcessSpawner).
 *
 * The process gets its own session/process group (detached) and is unref'd, so it survives the
 * hub exiting; stop() signals the whole group so kernels and other children go with it. Output
 * goes to a per-server log file (see files.ts), whose tail is the detail of a failed start.
 */
import { ProgressLog } from '../progress-log.js';
import { closeSync, existsSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { basename } from 'node:path';
import { getPriority, setPriority } from 'node:os';
import type { Logger } from 'pino';
import {
  OWNER_ENV,
  SpawnError,
  serviceUrl,
  type PollResult,
  type ProgressEvent,
  type ShellOptions,
  type ShellSession,
  type SpawnContext,
  type SpawnUser,
  type Spawner,
  type SpawnerState,
  type StopOptions,
} from '../spawner.js';
import { defaultLogDir, logPathFor, openLog, tailLog } from './files.js';
import { resolveIdentity, type RunIdentity } from './identity.js';
import type { LocalSpawnerOptions } from './options.js';
import { releasePort, reservePort } from './ports.js';
import { openLocalShell } from './shell.js';
import { groupExists, isAlive, procStat, signalGroup, waitUntilGone } from './proc.js';
import { launch, launchHere, type ExitInfo, type Launched, type LaunchRequest } from './launcher.js';

/** What state() stores; enough to find, check and stop the process from another hub process. */
export interface LocalSpawnerState {
  pid: number;
  port: number;
  ip: string;
  /** ms since the epoch, when the hub started the process (informational). */
  startTime: number;
  /** /proc/<pid>/stat field 22 at spawn time; guards against a recycled PID. null if unknown. */
  procStartTicks: number | null;
  logPath: string;
}

const SETPRIV = '/usr/bin/setpriv';
/** ctx.env keys with this prefix are instructions to the spawner, never passed to the server. */
const DIRECTIVE_PREFIX = 'ATRIUM_SPAWNER_';

export class LocalSpawner implements Spawner {
  private info: LocalSpawnerState | null = null;
  private child: Launched | null = null;
  private exit: ExitInfo | null = null;
  private starting = false;
  private progressLog = ProgressLog.ended();

  constructor(
    private readonly options: LocalSpawnerOptions,
    private readonly user: SpawnUser,
    private readonly serverName: string,
    private readonly log: Logger,
    /** From the hub (stateDir/logs, private); absent only outside the hub. */
    private readonly logDir?: string,
    /** The hub's stateDir: default homes live in <stateDir>/homes (runAs hub). */
    private readonly stateDir?: string,
  ) {}

  async start(ctx: SpawnContext): Promise<{ url: string }> {
    this.starting = true;
    this.progressLog = new ProgressLog();
    this.info = null;
    this.child = null;
    this.exit = null;
    let port = 0;
    try {
      this.emit(10, 'Starting process');
      if (ctx.signal.aborted) throw cancelled(ctx.signal);
      const who = await resolveIdentity(this.options, this.user.name, ctx.env, { stateDir: this.stateDir, logDir: this.logDir, log: ctx.log });
      port = await reservePort(this.options.ip);
      const argv = this.commandLine(who);
      const env = this.environment(ctx, who, port);
      const logPath = logPathFor(this.logDir ?? defaultLogDir(), this.user.name, this.serverName);
      // The default lives in the shared tmpdir, so it must be ours; the hub's dir is made 0700.
      const opened = await openLog(logPath, this.logDir === undefined);
      if (ctx.signal.aborted) {
        closeSync(opened.fd);
        throw cancelled(ctx.signal);
      }
      writeSync(opened.fd, `[atrium] ${new Date().toISOString()} starting ${JSON.stringify(argv)} as uid ${who.effectiveUid} on ${this.options.ip}:${port}\n`);
      const useSetpriv = who.uid !== null && argv[0] === SETPRIV;
      const req: LaunchRequest = {
        file: argv[0]!,
        args: argv.slice(1),
        env,
        cwd: who.home,
        logPath,
        ...(who.uid !== null && !useSetpriv ? { uid: who.uid, gid: who.gid! } : {}),
      };
      let child: Launched;
      try {
        child = await this.launchProcess(req, opened.fd, ctx.log);
      } finally {
        closeSync(opened.fd); // the child has its own copy (or the launcher opened the file itself)
      }
      this.child = child;
      if (child.pid !== undefined && this.options.nice > 0) lowerPriority(child.pid, this.options.nice, ctx.log);
      // A late exit of an earlier run's child must not mark a newer run as exited.
      const exited = child.exited.then((e) => {
        if (this.child === child) this.exit = e;
      });
      if (child.pid === undefined) {
        await exited;
        throw new SpawnError('The server could not be started', `${argv[0]}: ${(this.exit as ExitInfo | null)?.error ?? 'spawn failed'}`);
      }
      this.info = {
        pid: child.pid,
        port,
        ip: this.options.ip,
        startTime: Date.now(),
        procStartTicks: procStat(child.pid)?.startTicks ?? null,
        logPath,
      };
      // Durable before the next await: a hub killed from here on finds the process by its record.
      ctx.recordHandle(this.state());
      ctx.log.info({ pid: child.pid, port, uid: who.effectiveUid, logPath }, 'local server process started');
      this.emit(40, `Process started (pid ${child.pid}), waiting for it to listen`);

      const host = connectHost(this.options.ip);
      const outcome = await waitListening(host, port, exited, ctx.signal);
      if (outcome !== 'listening') {
        await this.terminate();
        if (outcome === 'aborted') throw cancelled(ctx.signal);
        const tail = await tailLog(logPath, opened.offset);
        throw new SpawnError(
          `The server process exited (${describeExit(this.exit)}) before it was listening`,
          `log ${logPath}:\n${tail}`,
        );
      }
      this.emit(90, `Server is listening on port ${port}`);
      return { url: serviceUrl(host, port, '/').slice(0, -1) };
    } catch (err) {
      if (port) releasePort(port);
      if (this.info && !this.exit) await this.terminate();
      throw err;
    } finally {
      this.starting = false;
      this.progressLog.end();
    }
  }

  async stop(opts: StopOptions = {}): Promise<void> {
    await this.terminate(opts.immediate === true);
    if (this.info) releasePort(this.info.port);
  }

  async poll(): Promise<PollResult> {
    if (this.starting) return null;
    if (this.child) {
      if (this.exit) return { exitStatus: this.exit.code, reason: describeExit(this.exit) };
      // The exit event can lag a moment behind the process dying; /proc is the truth.
      return this.ownedAlive() ? null : { exitStatus: null, reason: 'process is gone' };
    }
    if (!this.info) return { exitStatus: 0, reason: 'not started' };
    if (this.ownedAlive()) return null;
    return { exitStatus: null, reason: `process ${this.info.pid} is gone (or its PID now belongs to another process)` };
  }

  state(): SpawnerState {
    return this.info && !this.exit ? { ...this.info } : {};
  }

  restore(state: SpawnerState): void {
    const { pid, port, ip, startTime, procStartTicks, logPath } = state as Partial<LocalSpawnerState>;
    if (typeof pid !== 'number' || typeof port !== 'number' || typeof ip !== 'string') return;
    this.info = {
      pid,
      port,
      ip,
      startTime: typeof startTime === 'number' ? startTime : 0,
      procStartTicks: typeof procStartTicks === 'number' ? procStartTicks : null,
      logPath: typeof logPath === 'string' ? logPath : '',
    };
  }

  progress(): AsyncIterable<ProgressEvent> {
    return this.progressLog.read();
  }

  async shell(opts: ShellOptions): Promise<ShellSession> {
    if (!this.info || this.exit) throw new SpawnError('The server is not running', 'no process recorded');
    return openLocalShell(this.info, opts);
  }

  /** True if our process (same PID and start time) is still running. */
  private ownedAlive(): boolean {
    if (!this.info || this.exit) return false;
    return isAlive(this.info.pid, this.info.procStartTicks ?? undefined);
  }

  /**
   * SIGTERM to the group, SIGKILL after stopGraceSeconds (at once if `immediate`); resolves when
   * nothing is left.
   */
  private async terminate(immediate = false): Promise<void> {
    const info = this.info;
    if (!info || !this.ownedAlive()) return;
    const pid = info.pid;
    // Only our verified group is signalled; a recycled PID's group is never touched.
    const left = () => this.ownedAlive() || groupExists(pid);
    signalGroup(pid, immediate ? 'SIGKILL' : 'SIGTERM');
    if (!(await waitUntilGone(left, immediate ? 10_000 : this.options.stopGraceSeconds * 1000))) {
      this.log.warn({ pid }, 'local server did not exit after SIGTERM; sending SIGKILL');
      signalGroup(pid, 'SIGKILL');
      await waitUntilGone(left, 10_000);
    }
    if (!this.child) this.exit = { code: null, signal: 'SIGTERM' };
  }

  private commandLine(who: RunIdentity): string[] {
    const argv = [...this.options.cmd, ...this.options.args];
    if (argv.length === 0) throw new SpawnError('The server command is not configured', 'spawner.local.cmd is empty');
    // jupyterhub-singleuser refuses to run as root without this flag; only relevant for a root
    // hub with runAs 'hub' (system-user never runs as uid 0).
    if (who.effectiveUid === 0 && basename(argv[0]!) === 'jupyterhub-singleuser' && !argv.includes('--allow-root')) {
      argv.push('--allow-root');
    }
    if (who.uid !== null && existsSync(SETPRIV)) {
      // setpriv (util-linux) also sets supplementary groups, which Node's uid/gid options drop.
      const groups = who.hasAccount ? '--init-groups' : '--clear-groups';
      return [SETPRIV, `--reuid=${who.uid}`, `--regid=${who.gid}`, groups, '--', ...argv];
    }
    return argv;
  }

  private environment(ctx: SpawnContext, who: RunIdentity, port: number): Record<string, string> {
    const env: Record<string, string> = {};
    for (const key of this.options.envKeep) {
      const v = process.env[key];
      if (v !== undefined) env[key] = v;
    }
    for (const [k, v] of Object.entries(ctx.env)) if (!k.startsWith(DIRECTIVE_PREFIX)) env[k] = v;
    env.JUPYTERHUB_SERVICE_URL = serviceUrl(this.options.ip, port, ctx.baseUrl);
    env[OWNER_ENV] = ctx.ownerTag;
    env.USER = who.user;
    env.HOME = who.home;
    env.SHELL = who.shell;
    return env;
  }

  /**
   * Fork the server: through the launcher (launcher.ts) unless turned off, so the hub's event loop
   * never waits for a fork; in this process if the launcher is off or not available.
   */
  private async launchProcess(req: LaunchRequest, fd: number, log: Logger): Promise<Launched> {
    if (this.options.launcher) {
      try {
        return await launch(req);
      } catch (err) {
        log.warn({ err: String(err) }, 'the launcher is not available; starting the server from the hub process');
      }
    }
    return launchHere(req, fd);
  }

  private emit(progress: number, message: string): void {
    this.progressLog.push({ progress, message });
  }
}

/** Where the hub connects: a wildcard listen address is reached through loopback. */
function connectHost(ip: string): string {
  if (ip === '0.0.0.0' || ip === '') return '127.0.0.1';
  if (ip === '::') return '::1';
  return ip;
}

function cancelled(signal: AbortSignal): SpawnError {
  return new SpawnError('The server start was cancelled', String(signal.reason ?? 'aborted'));
}

function describeExit(exit: ExitInfo | null): string {
  if (!exit) return 'unknown status';
  if (exit.error) return exit.error;
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exit status ${exit.code}`;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** Until the port accepts connections, the process exits, or the hub gives up. */
async function waitListening(
  host: string,
  port: number,
  exited: Promise<void>,
  signal: AbortSignal,
): Promise<'listening' | 'exited' | 'aborted'> {
  let done: 'exited' | 'aborted' | null = null;
  let kick: (() => void) | null = null;
  const finish = (why: 'exited' | 'aborted') => {
    done ??= why;
    kick?.();
  };
  const onAbort = () => finish('aborted');
  signal.addEventListener('abort', onAbort, { once: true });
  void exited.then(() => finish('exited'));
  try {
    for (let delay = 50; ; delay = Math.min(delay * 1.5, 500)) {
      if (signal.aborted) return 'aborted';
      if (done) return done;
      const up = await canConnect(host, port);
      if (done) return done; // something else may hold the port; our process is what counts
      if (up) return 'listening';
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { kick = null; resolve(); }, delay);
        kick = () => { clearTimeout(t); kick = null; resolve(); };
      });
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Run the server below the hub's CPU priority. Set right after fork/exec, before the server has
 * done any real work; its kernels and subprocesses inherit it. Failing to lower it (a restricted
 * container) costs responsiveness under load, not correctness, so it is logged, not fatal.
 */
function lowerPriority(pid: number, nice: number, log: Logger): void {
  try {
    setPriority(pid, Math.min(19, getPriority(0) + nice));
  } catch (err) {
    log.warn({ pid, nice, err: String(err) }, 'could not lower the server\'s CPU priority');
  }
}
