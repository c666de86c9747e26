/**
 * One ssh2 connection per host, shared by every session, command and tunnel on that host — the
 * kind's shared resource (spawner.ts "shared resources"). Lifecycle: created lazily by the first
 * spawner that needs the host (a start, or a restore after a hub restart); kept up with keepalives;
 * reconnected with doubling back-off while any reverse tunnel is registered on it; re-registers
 * those reverse tunnels on the same remote ports after each reconnect, so servers that baked the
 * port into JUPYTERHUB_API_URL keep working; `closeSshConnections()` ends all of them (hub stop).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import type { Logger } from 'pino';
import { Client, type ClientChannel, type ParsedKey, type PublicKeyAuthMethod, type AuthMethod } from 'ssh2';
import { hostVerifier } from './host-keys.js';
import type { SshHost, SshConnectionOptions as SshSpawnerOptions } from './types.js';

/** Exec channels open at once per connection: stays below sshd's default MaxSessions (10). */
const MAX_EXEC_CHANNELS = 8;

/**
 * Who a connection logs in as. The admin login (admin-sudo) is shared by every user; a user login
 * (user-key) is that user's own key, so the pool keeps one connection per host and login, and a
 * user connection with nothing left on it is closed after userIdleCloseSeconds.
 */
export interface SshLogin {
  username: string;
  /** Pool key part: the key file for the admin, a hash of the key for a user (never the key). */
  id: string;
  /**
   * The private key, read when a connection is opened (a file may be replaced meanwhile); a parsed
   * key is a certificate login (certificate.ts certifiedKey), minted or checked per connection.
   */
  key(): Buffer | string | ParsedKey;
  perUser: boolean;
  /** Added to "authentication methods failed": what the host probably did not accept. */
  refusedHint?: string;
}

export function adminLogin(options: SshSpawnerOptions): SshLogin {
  return {
    username: options.adminUser,
    id: `admin:${options.adminKeyFile}`,
    perUser: false,
    key: () => {
      try {
        return readFileSync(options.adminKeyFile);
      } catch (err) {
        throw new HostUnavailable(`the hub's SSH key ${options.adminKeyFile} is not readable (${(err as NodeJS.ErrnoException).code})`);
      }
    },
  };
}

export function userLogin(username: string, privateKey: string): SshLogin {
  return { username, id: `user:${createHash('sha256').update(privateKey).digest('hex').slice(0, 16)}`, perUser: true, key: () => privateKey };
}

export class HostUnavailable extends Error {
  constructor(message: string, readonly hostKeyRefused = false) {
    super(message);
    this.name = 'HostUnavailable';
  }
}

interface ReverseTarget {
  host: string;
  port: number;
}

export class HostConnection {
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;
  private closed = false;
  private backoffMs = 250;
  private retryTimer: NodeJS.Timeout | null = null;
  /**
   * Remote port on the host's 127.0.0.1 → where its connections go on the hub side. Counted:
   * a restored spawner and the one that started the server may share one in a hub process.
   */
  private readonly reverse = new Map<number, { target: ReverseTarget; refs: number }>();
  private execSlots = MAX_EXEC_CHANNELS;
  private readonly execQueue: (() => void)[] = [];
  /** Completed handshakes (1 + reconnects), for logs and tests. */
  connects = 0;

  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly host: SshHost,
    private readonly options: SshSpawnerOptions,
    private readonly log: Logger,
    readonly login: SshLogin = adminLogin(options),
  ) {}

  /** The ready client, connecting first if needed. Rejects with HostUnavailable. */
  get(): Promise<Client> {
    if (this.closed) return Promise.reject(new HostUnavailable(`ssh connection to ${this.host.name} is closed`));
    this.notIdle();
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.open().finally(() => (this.connecting = null));
    return this.connecting;
  }

  get connected(): boolean {
    return this.client !== null;
  }

  private open(): Promise<Client> {
    const { host, options } = this;
    let refused: string | null = null;
    let key: Buffer | string | ParsedKey;
    try {
      key = this.login.key();
    } catch (err) {
      return Promise.reject(err instanceof HostUnavailable ? err : new HostUnavailable(String(err)));
    }
    return new Promise<Client>((resolve, reject) => {
      const c = new Client();
      let ready = false;
      c.on('ready', () => {
        ready = true;
        this.client = c;
        this.connects++;
        this.backoffMs = 250;
        this.log.info({ host: host.name, connects: this.connects }, 'ssh connection up');
        this.reRegisterReverse(c);
        resolve(c);
      });
      c.on('tcp connection', (info, accept, rejectConn) => {
        const target = this.reverse.get(info.destPort)?.target;
        if (!target) return rejectConn();
        const ch = accept();
        const sock = netConnect(target.port, target.host);
        sock.on('error', () => ch.destroy());
        ch.on('error', () => sock.destroy());
        sock.pipe(ch).pipe(sock);
      });
      c.on('error', (err) => {
        if (!ready) {
          const as = this.login.perUser ? ` as ${this.login.username} with ${this.login.refusedHint ? 'your SSH certificate' : 'the key from your login'}` : '';
          const hint = this.login.refusedHint && /authentication methods failed/i.test(err.message) ? ` (${this.login.refusedHint})` : '';
          reject(refused ? new HostUnavailable(refused, true) : new HostUnavailable(`cannot connect to ${host.name} (${host.address}:${host.port})${as}: ${err.message}${hint}`));
        } else this.log.warn({ host: host.name, err: err.message }, 'ssh connection error');
      });
      c.on('close', () => {
        if (this.client === c) {
          this.client = null;
          this.log.warn({ host: host.name }, 'ssh connection lost');
          this.scheduleReconnect();
        }
        if (!ready) reject(new HostUnavailable(refused ?? `connection to ${host.name} closed during the handshake`, refused !== null));
      });
      c.connect({
        host: host.address,
        port: host.port,
        username: this.login.username,
        // A certificate key object goes through authHandler: `privateKey` takes text or bytes only.
        ...(typeof key === 'string' || Buffer.isBuffer(key) ? { privateKey: key } : { authHandler: [certAuth(this.login.username, key)] }),
        readyTimeout: options.connectTimeoutSeconds * 1000,
        keepaliveInterval: options.keepaliveIntervalSeconds * 1000,
        keepaliveCountMax: options.keepaliveCountMax,
        hostVerifier: hostVerifier(host, options.knownHostsFile, this.log, (r) => (refused = r)),
      });
    });
  }

  /** While reverse tunnels depend on this connection, keep trying to bring it back. */
  private scheduleReconnect(): void {
    if (this.closed || this.reverse.size === 0 || this.retryTimer) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.reconnectMaxBackoffSeconds * 1000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.get().catch((err: Error) => {
        this.log.warn({ host: this.host.name, err: err.message, nextInMs: this.backoffMs }, 'ssh reconnect failed');
        this.scheduleReconnect();
      });
    }, wait);
    this.retryTimer.unref();
  }

  private reRegisterReverse(c: Client): void {
    for (const port of this.reverse.keys()) {
      c.forwardIn('127.0.0.1', port, (err) => {
        if (err) this.log.error({ host: this.host.name, port, err: err.message }, 'reverse tunnel could not be re-opened on its old port');
      });
    }
  }

  /**
   * A reverse tunnel: connections to the host's 127.0.0.1:`remotePort` reach `target` on the hub
   * side. `remotePort` 0 lets sshd pick a free port (no race); the port is returned.
   */
  async addReverse(remotePort: number, target: ReverseTarget): Promise<number> {
    const known = remotePort !== 0 ? this.reverse.get(remotePort) : undefined;
    if (known) {
      known.refs++;
      return remotePort;
    }
    // Registered before the request: if the connection drops meanwhile, the reconnect re-opens it.
    if (remotePort !== 0) this.reverse.set(remotePort, { target, refs: 1 });
    try {
      const c = await this.get();
      const port = await new Promise<number>((resolve, reject) =>
        c.forwardIn('127.0.0.1', remotePort, (err, bound) => (err ? reject(new HostUnavailable(`reverse tunnel on ${this.host.name}: ${err.message}`)) : resolve(bound || remotePort))),
      );
      if (remotePort === 0) this.reverse.set(port, { target, refs: 1 });
      return port;
    } catch (err) {
      if (remotePort === 0) throw err;
      // Kept registered: the server still needs this port, and the reconnect loop retries it.
      this.scheduleReconnect();
      throw err;
    }
  }

  async removeReverse(remotePort: number): Promise<void> {
    const entry = this.reverse.get(remotePort);
    if (!entry || --entry.refs > 0) return;
    this.reverse.delete(remotePort);
    const c = this.client;
    if (c) await new Promise<void>((resolve) => c.unforwardIn('127.0.0.1', remotePort, () => resolve()));
    this.maybeIdle();
  }

  /**
   * A user connection that carries no reverse tunnel (so no server of this hub) and runs no
   * command is closed after a while: with one connection per host and user, they would pile up.
   * Forward tunnels need no open connection (each request reconnects through get()).
   */
  private maybeIdle(): void {
    if (!this.login.perUser || this.closed || this.idleTimer || this.reverse.size > 0 || this.execSlots < MAX_EXEC_CHANNELS) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.reverse.size > 0 || this.execSlots < MAX_EXEC_CHANNELS || !this.client) return;
      const c = this.client;
      this.client = null; // before end(): the close handler must not count it as a lost connection
      c.end();
      this.log.info({ host: this.host.name, user: this.login.username }, 'idle user ssh connection closed');
    }, this.options.userIdleCloseSeconds * 1000);
    this.idleTimer.unref();
  }

  private notIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  /** A channel to the host's 127.0.0.1:`remotePort` (the forward tunnel's per-connection leg). */
  async forwardOut(remotePort: number): Promise<ClientChannel> {
    const c = await this.get();
    return new Promise((resolve, reject) => c.forwardOut('127.0.0.1', 0, '127.0.0.1', remotePort, (err, ch) => (err ? reject(err) : resolve(ch))));
  }

  /** Run one command; `onLine` sees stdout line by line; stdin gets `input` then EOF. */
  async exec(command: string, opts: { input?: string; onLine?: (line: string, ch: ClientChannel) => void; signal?: AbortSignal } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    await this.slot();
    try {
      const c = await this.get();
      return await new Promise((resolve, reject) => {
        c.exec(command, (err, ch) => {
          if (err) return reject(new HostUnavailable(`cannot run a command on ${this.host.name}: ${err.message}`));
          let stdout = '';
          let stderr = '';
          let partial = '';
          const onAbort = () => ch.close();
          opts.signal?.addEventListener('abort', onAbort, { once: true });
          ch.on('data', (d: Buffer) => {
            stdout += d.toString();
            if (!opts.onLine) return;
            partial += d.toString();
            let i: number;
            while ((i = partial.indexOf('\n')) >= 0) {
              opts.onLine(partial.slice(0, i), ch);
              partial = partial.slice(i + 1);
            }
          });
          ch.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8000)));
          let code: number | null = null;
          ch.on('exit', (c2: number | null) => (code = c2));
          ch.on('close', () => {
            opts.signal?.removeEventListener('abort', onAbort);
            resolve({ code, stdout, stderr });
          });
          ch.end(opts.input ?? '');
        });
      });
    } finally {
      this.release();
    }
  }

  private slot(): Promise<void> {
    if (this.execSlots > 0) {
      this.execSlots--;
      return Promise.resolve();
    }
    return new Promise((r) => this.execQueue.push(r));
  }

  private release(): void {
    const next = this.execQueue.shift();
    if (next) next();
    else this.execSlots++;
    this.maybeIdle();
  }

  close(): void {
    this.closed = true;
    this.notIdle();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.client?.end();
    this.client = null;
  }
}

function certAuth(username: string, key: ParsedKey): AuthMethod {
  const m: PublicKeyAuthMethod = { type: 'publickey', username, key };
  return m;
}

const pool = new Map<string, HostConnection>();

/** The shared connection for `host` (one per host address, port and login; the admin login by default). */
export function connectionFor(host: SshHost, options: SshSpawnerOptions, log: Logger, login: SshLogin = adminLogin(options)): HostConnection {
  const key = `${host.name}|${host.address}|${host.port}|${login.username}|${login.id}`;
  let c = pool.get(key);
  if (!c) {
    c = new HostConnection(host, options, log.child({ sshHost: host.name }), login);
    pool.set(key, c);
  }
  return c;
}

/** End every connection (hub shutdown, tests); the next use connects again. */
export function closeSshConnections(): void {
  for (const c of pool.values()) c.close();
  pool.clear();
}

/** For tests and logs: the pooled connections. */
export function sshConnections(): HostConnection[] {
  return [...pool.values()];
}
