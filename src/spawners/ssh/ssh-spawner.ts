/**
 * One user server as one process group on a remote host, reached only through SSH: a reverse
 * tunnel carries the server's hub API calls to the hub (the host needs no route to the hub) and a
 * forward tunnel carries the hub's and proxy's requests to the server, which listens on the
 * host's loopback only. Both ride the host's one shared connection (connection-pool.ts).
 *
 * State (JSON, recorded as soon as each part exists): host, remoteUser, tag, pgid, remotePort,
 * reversePort, localPort, api. A restarted hub rebuilds the reverse tunnel on the same remote port
 * (the server's JUPYTERHUB_API_URL names it) and the forward tunnel on the same local port (the
 * proxy route names it).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { hasCode } from '../../shared/errors.js';
import { OWNER_ENV, SpawnError, serviceUrl, type PollResult, type ProgressEvent, type ShellOptions, type ShellSession, type SpawnContext, type Spawner, type SpawnerState, type SpawnUser, type StopOptions } from '../spawner.js';
import { assertNoOptionProblems } from '../../shared/kind.js';
import { checkSshOptions } from './descriptor.js';
import { adminLogin, connectionFor, HostUnavailable, type HostConnection, type SshLogin } from '../../shared/ssh/connection-pool.js';
import { userLoginFrom } from '../../shared/ssh/user-key.js';
import { certLoginFor } from './cert-login.js';
import { dataMountRequest, mountData, mountpointFor, unmountData } from './data-mount.js';
import { ForwardTunnel } from './forward-tunnel.js';
import { addSession, hostOrder, hostsFor, removeSession } from './host-choice.js';
import type { SshHost, SshSpawnerOptions } from './options.js';
import { ProgressLog } from '../progress-log.js';
import { openSshShell } from './shell.js';
import { controlCommand, launcherCommand, type LauncherMessage } from './remote-scripts.js';

const NAME = /^[a-z_][a-z0-9_.-]*$/i;

function fill(s: string, username: string): string {
  return s.replaceAll('{username}', username);
}

export class SshSpawner implements Spawner {
  private host: SshHost | null = null;
  private remoteUser = '';
  private tag = '';
  private pgid: number | null = null;
  private remotePort: number | null = null;
  private reversePort: number | null = null;
  private localPort: number | null = null;
  /** The sshfs data mount on the host (recorded before it is made), or null. */
  private dataMount: string | null = null;
  private api: { host: string; port: number } | null = null;
  private forward: ForwardTunnel | null = null;
  /** Set when the local port could not be re-bound after a restart (the URL is unusable). */
  private attach: Promise<void> | null = null;
  private attachError: string | null = null;
  private counted = false;
  private starting = false;
  private final: PollResult = null;
  private progressQ: ProgressLog | null = null;

  /** user-key / user-cert: the user's own login; null until known (admin-sudo: always the admin login). */
  private userLogin: SshLogin | null = null;
  private loginError: string | null = null;

  constructor(
    private readonly options: SshSpawnerOptions,
    private readonly user: SpawnUser,
    private readonly serverName: string,
    private readonly log: Logger,
    /** Reads the user's auth_state on demand: restore() needs the per-user key, which no state holds. */
    private readonly readAuthState: () => Record<string, unknown> | null = () => null,
  ) {
    assertNoOptionProblems('spawner.ssh', checkSshOptions(options, true, false));
  }

  private login(): SshLogin {
    if (this.options.login === 'admin-sudo') return adminLogin(this.options);
    if (!this.userLogin) throw new HostUnavailable(this.loginError ?? 'no SSH login for this user');
    return this.userLogin;
  }

  private conn(): HostConnection {
    return connectionFor(this.host!, this.options, this.log, this.login());
  }

  private emit(progress: number, message: string): void {
    this.progressQ?.push({ progress, message });
  }

  async start(ctx: SpawnContext): Promise<{ url: string }> {
    this.progressQ = new ProgressLog();
    this.starting = true;
    this.final = null;
    try {
      return await this.run(ctx);
    } catch (err) {
      await this.cleanup(true).catch((e: Error) => ctx.log.warn({ err: e.message }, 'ssh: cleanup after a failed start failed'));
      this.final = { exitStatus: null, reason: err instanceof Error ? err.message : String(err) };
      if (ctx.signal.aborted && !hasCode(err, 'ATRIUM_ERR_SPAWN_FAILED')) throw new SpawnError('The spawn was cancelled.', String(err));
      if (err instanceof HostUnavailable) throw new SpawnError(`SSH host ${this.host?.name ?? ''} failed during the start: ${err.message}`);
      throw err;
    } finally {
      this.starting = false;
      this.progressQ.end();
    }
  }

  private async run(ctx: SpawnContext): Promise<{ url: string }> {
    const remoteUser = fill(this.options.remoteUser, this.user.name);
    if (!NAME.test(remoteUser)) throw new SpawnError(`"${remoteUser}" is not a valid Unix user name on the SSH hosts`);
    const apiUrl = new URL(ctx.env.JUPYTERHUB_API_URL ?? '');
    this.remoteUser = remoteUser;
    this.tag = ctx.ownerTag;
    if (this.options.login !== 'admin-sudo') {
      // Checked before any connection: a missing key, an expired certificate or a wrong principal
      // fails the spawn at once with its own message, and nothing is started on a host.
      const got = this.perUserLogin(ctx.authState, remoteUser);
      if ('error' in got) throw new SpawnError(got.error);
      this.userLogin = got.login;
    }
    // Checked before any connection: missing or unusable mount details fail the spawn at once.
    const dm = this.options.dataMount;
    const mountReq = dm ? dataMountRequest(dm, ctx.authState) : null;
    this.api = { host: apiUrl.hostname.replace(/^\[|\]$/g, ''), port: Number(apiUrl.port || (apiUrl.protocol === 'https:' ? 443 : 80)) };

    // 1. Connecting: the least busy reachable host; a host that is down is skipped, said so. The
    // session is counted before the first await, so concurrent spawns spread over the hosts.
    const problems: string[] = [];
    const tried = new Set<string>();
    const pool = hostsFor(this.options.hosts, this.options.hostRules, ctx.user);
    if (pool.rule !== null) ctx.log.info({ rule: pool.rule, hosts: pool.hosts.map((h) => h.name) }, 'ssh host rule matched');
    for (;;) {
      ctx.signal.throwIfAborted();
      const h = hostOrder(pool.hosts).find((x) => !tried.has(x.name));
      if (!h) break;
      tried.add(h.name);
      addSession(h.name);
      this.emit(10, `Connecting to ${h.name}`);
      try {
        await raceAbort(connectionFor(h, this.options, this.log, this.login()).get(), ctx.signal);
        this.host = h;
        this.counted = true;
        break;
      } catch (err) {
        removeSession(h.name);
        if (!(err instanceof HostUnavailable)) throw err;
        problems.push(err.message);
        ctx.log.warn({ host: h.name, err: err.message }, 'ssh host skipped');
        this.emit(12, `Host ${h.name} is not available (${err.message}); trying the next one`);
      }
    }
    const which = pool.rule !== null ? ` of those host rule ${pool.rule + 1} allows you (${pool.hosts.map((h) => h.name).join(', ')})` : '';
    if (!this.host) throw new SpawnError(problems.length ? `No SSH host${which} could be used: ${problems.join('; ')}` : `No SSH host${which} has room for another server right now.`);
    const conn = this.conn();

    // 2. The reverse tunnel first: the server calls the hub API as soon as it starts.
    this.emit(20, `Opening the tunnel to the hub on ${this.host.name}`);
    this.reversePort = await raceAbort(conn.addReverse(0, this.api), ctx.signal);
    ctx.recordHandle(this.state());
    const hubOrigin = apiUrl.origin;
    const tunnelled = `http://127.0.0.1:${this.reversePort}`;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.env)) env[k] = v.startsWith(hubOrigin) ? tunnelled + v.slice(hubOrigin.length) : v;
    for (const [k, v] of Object.entries(this.options.environment)) env[k] = fill(v, this.user.name);
    // The server binds port 0 on loopback; its real port comes back from the launcher.
    env.JUPYTERHUB_SERVICE_URL = serviceUrl('127.0.0.1', 0, ctx.baseUrl);
    env.PATH = this.options.path;
    env[OWNER_ENV] = ctx.ownerTag;

    // 2b. The user's data (optional): mounted by root before the server starts.
    let link: { name: string; target: string } | undefined;
    if (dm && mountReq) {
      this.emit(30, `Mounting your data from ${mountReq.host} on ${this.host.name}`);
      this.dataMount = mountpointFor(dm, remoteUser, this.serverName);
      ctx.recordHandle(this.state()); // before the mount exists: a crash here leaves a record
      await raceAbort(mountData(conn, this.options.adminPrefix, this.options.python, dm, remoteUser, this.dataMount, mountReq), ctx.signal);
      env.ATRIUM_DATA_DIR = this.dataMount;
      if (dm.link) link = { name: dm.link, target: this.dataMount };
    }

    // 3. Starting: the launcher runs as the user; the environment (token included) goes on stdin.
    this.emit(40, `Starting the server on ${this.host.name} as ${remoteUser}`);
    const request = {
      env,
      cmd: [...this.options.cmd, ...this.options.args],
      cwd: this.options.workDir,
      log: `server-${this.serverName || 'default'}-${randomBytes(3).toString('hex')}.log`,
      timeout: this.options.portTimeoutSeconds,
      link,
    };
    const prefix = this.userPrefix();
    let answer: LauncherMessage | null = null;
    // sshd closes the launcher's channel only once the launcher exits, so on abort the process
    // group is ended at once (the launcher then reports the exit and returns).
    const onAbort = () => {
      if (this.pgid !== null) void conn.exec(controlCommand(prefix, this.options.python, ['stop', this.pgid, this.tag, 0])).catch(() => undefined);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const res = await conn.exec(launcherCommand(prefix, this.options.python), {
      input: `${JSON.stringify(request)}\n`,
      signal: ctx.signal,
      onLine: (line) => {
        let msg: LauncherMessage;
        try {
          msg = JSON.parse(line) as LauncherMessage;
        } catch {
          return;
        }
        if ('pid' in msg) {
          this.pgid = msg.pid;
          ctx.recordHandle(this.state()); // before any await: the process exists now
          this.emit(55, `Server process ${msg.pid} started on ${this.host!.name}; waiting for it to listen`);
        } else answer = msg;
      },
    }).finally(() => ctx.signal.removeEventListener('abort', onAbort));
    ctx.signal.throwIfAborted();
    const got = answer as LauncherMessage | null;
    if (!got || !('port' in got)) {
      const why = got && 'exit' in got ? `the server exited with status ${got.exit}` : got && 'error' in got ? got.error : `the launcher failed (exit ${res.code}): ${res.stderr.trim().split('\n').pop() ?? ''}`;
      const tail = got && 'tail' in got && got.tail ? got.tail.trim().split('\n').slice(-15).join('\n') : '';
      throw new SpawnError(`The server did not start on ${this.host.name}: ${why}${tail ? `\n${tail}` : ''}`, tail || res.stderr);
    }
    this.remotePort = got.port;
    ctx.recordHandle(this.state());

    // 4. Tunnelling: the hub and the proxy reach the server through a local port.
    this.emit(75, `Tunnelling 127.0.0.1 to ${this.host.name}:${got.port}`);
    this.forward = await ForwardTunnel.open(conn, got.port, 0, this.log);
    this.localPort = this.forward.port;
    ctx.recordHandle(this.state());
    this.emit(90, 'Waiting for the server to answer');
    return { url: `http://127.0.0.1:${this.localPort}` };
  }

  /**
   * A handle recorded before the launcher answered has no pgid: look the process up by its tag
   * (as the user, on the recorded host). null when none carries it (yet).
   */
  private async findByTag(): Promise<number | null> {
    if (this.pgid !== null || !this.host || !this.tag || this.starting) return this.pgid;
    const res = await this.conn().exec(controlCommand(this.userPrefix(), this.options.python, ['find', this.tag]));
    const line = res.stdout.split('\n').find((l) => l.trim());
    if (line) this.pgid = (JSON.parse(line) as { pgid: number }).pgid;
    return this.pgid;
  }

  async poll(): Promise<PollResult> {
    if (this.final) return this.final;
    // Restored without the user's key: this hub cannot reach the server, so it is not its server now.
    if (this.loginError && !this.userLogin && this.attachError) return { exitStatus: null, reason: this.attachError };
    if (this.pgid === null && this.host && !this.starting) {
      try {
        await this.findByTag();
      } catch {
        return null; // host unreachable: unknown
      }
    }
    if (this.pgid === null || !this.host) return this.starting ? null : { exitStatus: null, reason: 'not started' };
    if (this.attach) await this.attach;
    if (this.attachError) return { exitStatus: null, reason: this.attachError };
    let out: string;
    try {
      out = (await this.conn().exec(controlCommand(this.userPrefix(), this.options.python, ['poll', this.pgid, this.tag]))).stdout.trim();
    } catch (err) {
      // The host cannot be asked now: unknown, so the server is kept (the connection comes back).
      this.log.info({ host: this.host.name, err: (err as Error).message }, 'ssh poll: host not reachable');
      return null;
    }
    if (out === 'running') return null;
    if (out !== 'gone') return null; // a control failure says nothing about the server
    this.final = { exitStatus: null, reason: `process group ${this.pgid} on ${this.host.name} has ended` };
    await this.cleanup(false);
    return this.final;
  }

  async shell(opts: ShellOptions): Promise<ShellSession> {
    if (!this.host || this.pgid === null || this.final) throw new SpawnError('The server is not running', 'no remote process recorded');
    return openSshShell(this.conn(), this.userPrefix(), opts);
  }

  /** user-key / user-cert: the user's own login (from auth_state, or signed by the hub's CA). */
  private perUserLogin(authState: Record<string, unknown> | null, remoteUser: string): { login: SshLogin } | { error: string } {
    if (this.options.login === 'user-cert') return certLoginFor(this.options, authState, this.user.name, this.serverName, remoteUser);
    return userLoginFrom(authState, this.options.userKeyAuthStateKey, remoteUser);
  }

  /** How commands run as the user: through userPrefix (admin-sudo), or as they are (logged in as the user). */
  private userPrefix(): string[] {
    if (this.options.login !== 'admin-sudo') return [];
    return this.options.userPrefix.map((w) => fill(w, this.remoteUser));
  }

  async stop(opts: StopOptions = {}): Promise<void> {
    if (this.pgid === null && this.host && !this.starting) {
      await this.findByTag().catch((err: Error) => {
        throw new SpawnError(`Cannot stop the server on ${this.host!.name}: ${err.message}`);
      });
    }
    if (this.pgid !== null && this.host) {
      const grace = opts.immediate ? 0 : this.options.stopTimeoutSeconds;
      let res;
      try {
        res = await this.conn().exec(controlCommand(this.userPrefix(), this.options.python, ['stop', this.pgid, this.tag, grace]));
      } catch (err) {
        throw new SpawnError(`Cannot stop the server on ${this.host.name}: ${(err as Error).message}`);
      }
      if (res.stdout.trim() !== 'gone') throw new SpawnError(`The server on ${this.host.name} (process group ${this.pgid}) did not stop`, res.stderr);
      this.final ??= { exitStatus: null, reason: `stopped (process group ${this.pgid} on ${this.host.name})` };
    }
    if (!this.final && this.pgid === null) this.final = { exitStatus: null, reason: 'not started' };
    await this.cleanup(false);
  }

  /** Close both tunnels and give the host's session slot back; with `kill`, end the process too. */
  private async cleanup(kill: boolean): Promise<void> {
    if (kill && this.pgid !== null && this.host) {
      await this.conn().exec(controlCommand(this.userPrefix(), this.options.python, ['stop', this.pgid, this.tag, 0]));
    }
    await this.forward?.close();
    this.forward = null;
    await this.unmount();
    if (this.host && this.reversePort !== null) await this.conn().removeReverse(this.reversePort).catch(() => undefined);
    if (this.counted && this.host) removeSession(this.host.name);
    this.counted = false;
  }

  /** Unmount the data mount, after the server is gone (a failure is logged: the mount is root's, the server is stopped). */
  private async unmount(): Promise<void> {
    const dm = this.options.dataMount;
    if (!this.dataMount || !this.host || !dm) return;
    try {
      if (await unmountData(this.conn(), this.options.adminPrefix, this.options.python, dm, this.dataMount)) this.dataMount = null;
      else this.log.error({ host: this.host.name, mountpoint: this.dataMount }, 'ssh data mount is still mounted after umount');
    } catch (err) {
      this.log.error({ host: this.host.name, mountpoint: this.dataMount, err: (err as Error).message }, 'ssh data mount could not be unmounted');
    }
  }

  state(): SpawnerState {
    if (!this.host) return {};
    return {
      host: this.host.name,
      remoteUser: this.remoteUser,
      tag: this.tag,
      pgid: this.pgid,
      remotePort: this.remotePort,
      reversePort: this.reversePort,
      localPort: this.localPort,
      api: this.api,
      dataMount: this.dataMount,
    };
  }

  restore(state: SpawnerState): void {
    const host = this.options.hosts.find((h) => h.name === state.host);
    const int = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : null);
    if (!host || typeof state.tag !== 'string' || typeof state.remoteUser !== 'string' || !NAME.test(state.remoteUser)) return;
    this.host = host;
    this.tag = state.tag;
    this.remoteUser = state.remoteUser;
    this.pgid = int(state.pgid);
    this.remotePort = int(state.remotePort);
    this.reversePort = int(state.reversePort);
    this.localPort = int(state.localPort);
    const root = this.options.dataMount?.root.replace(/\/+$/, '');
    this.dataMount = root && typeof state.dataMount === 'string' && state.dataMount.startsWith(`${root}/`) && !state.dataMount.includes('..') ? state.dataMount : null;
    const api = state.api as { host?: unknown; port?: unknown } | null | undefined;
    this.api = api && typeof api.host === 'string' && int(api.port) ? { host: api.host, port: api.port as number } : null;
    this.final = null;
    this.attachError = null;
    if (this.options.login !== 'admin-sudo' && !this.userLogin) {
      const got = this.perUserLogin(this.readAuthState(), this.remoteUser);
      if ('error' in got) {
        // Without the key this hub cannot reach the server: reported as not running by poll().
        this.loginError = got.error;
        this.attachError = `cannot log in to ${host.name} as ${this.remoteUser}: ${got.error}`;
        this.log.error({ host: host.name, err: got.error }, 'ssh restore: no per-user login; the server cannot be re-attached');
      } else this.userLogin = got.login;
    }
    if (!this.counted) addSession(host.name);
    this.counted = true;
    this.attach = this.reattach();
  }

  /** Rebuild both tunnels of a server started by an earlier hub process. */
  private async reattach(): Promise<void> {
    if (this.attachError) return;
    const conn = this.conn();
    if (this.reversePort !== null && this.api) {
      await conn.addReverse(this.reversePort, this.api).catch((err: Error) => this.log.warn({ host: this.host!.name, err: err.message }, 'ssh restore: reverse tunnel not (yet) re-opened'));
    }
    if (this.remotePort !== null && this.localPort !== null) {
      try {
        this.forward = await ForwardTunnel.open(conn, this.remotePort, this.localPort, this.log);
      } catch (err) {
        // Another process holds the old port: the recorded URL now reaches something else.
        this.attachError = `the tunnel port 127.0.0.1:${this.localPort} could not be re-bound (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
      }
    }
  }

  progress(): AsyncIterable<ProgressEvent> {
    return (this.progressQ ?? ProgressLog.ended()).read();
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e as Error); },
    );
  });
}
