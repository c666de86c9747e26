/**
 * The spawn lifecycle (contracts §2.7): limits, the server's token and OAuth client, hooks,
 * start with a timeout, readiness wait, proxy route, progress, polling, stop, and re-attaching
 * after a hub restart. The database row is written at every step so a restarted hub knows the
 * truth; in-memory ActiveServer objects only carry what cannot be persisted (the spawner object,
 * listeners, timers).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SpawnDeps } from './deps.js';
import type { UserRow } from '../db/index.js';
import { now } from '../db/index.js';
import { atriumError, hasCode } from '../errors.js';
import { classifyError, logClassified, spawnFailureText, type ClassifiedError } from '../error-classify.js';
import { hashToken, newToken, tokenPrefix } from '../auth/crypto.js';
import { ROLES } from '../auth/scopes.js';
import { readAuthState } from '../auth/auth-state.js';
import { accessScopes, buildEnv, oauthClientId, serverPrefix } from './env.js';
import { ActiveServer } from './active.js';
import { checkNamedLimit } from './named-limit.js';
import type { Spawner, SpawnUser } from '../../spawners/spawner.js';
import type { Logger } from 'pino';
import { runPostStop, runPreSpawn } from '../hooks/run.js';
import { waitUp } from './wait-up.js';
import { isValidServerName, SERVER_NAME_RULE } from '../../shared/names.js';
import { RestoreGate } from './restore-gate.js';
import { ownerTag, restoreServers, type RestoreResult } from './restore.js';
import { randomBytes } from 'node:crypto';
import { StartQueue, resolveSlots, queueMessage, type Slot } from './start-queue.js';
import { NodeAdmission } from './node-admission.js';
import { spawnerKinds } from '../../spawners/kinds.js';
import { abortError, cancelSpawn, startSettled, wasCancelled } from './cancel.js';
import { environmentChoice } from '../environments/spawn.js';

/** Env keys holding the server's own API token; never handed to post-stop hooks. */
const SERVER_SECRET_ENV = ['JUPYTERHUB_API_TOKEN', 'JPY_API_TOKEN'];

export class SpawnManager {
  readonly active = new Map<string, ActiveServer>();
  /** Last failure per user/server, shown by the progress stream until the next spawn. */
  readonly failures = new Map<string, ClassifiedError>();
  private stopped = false;
  /** Closed until restore() knows the state of every server (see restore-gate.ts). */
  readonly gate = new RestoreGate();

  /** Admission control for starts (start-queue.ts); slots follow the config, also after a reload. */
  readonly queue: StartQueue;
  /** Keeps the queue's node list current when it admits per node (startQueue.perNode). */
  private readonly nodeAdmission: NodeAdmission;

  constructor(private readonly hub: SpawnDeps) {
    this.queue = new StartQueue(this.queueSlots(), {
      queueLength: (n) => hub.metrics.startQueueLength.set(n),
      waited: (s) => hub.metrics.startQueueWait.observe(s),
    });
    this.nodeAdmission = new NodeAdmission(this.queue, hub.spawnerKind, () => hub.spawnerOptions, hub.log, {
      ownerPrefix: () => `${this.instanceId()}:`,
      settled: () => this.knownTags(),
      inherited: () => [...this.active.values()].some((a) => a.phase === 'spawn' && !this.viaQueue.has(a)),
    });
  }

  private queueSlots(): number {
    const q = this.hub.config.spawner.startQueue;
    if (!q.enabled) return 0;
    const d = spawnerKinds.kinds.find((k) => k.name === this.hub.spawnerKind.kind);
    return resolveSlots(q.slots, Boolean(d && 'serversOnHubHost' in d && d.serversOnHubHost));
  }

  private instance: string | null = null;
  /** This installation's id (the prefix of every owner tag), read once. */
  instanceId(): string {
    return (this.instance ??= this.hub.stores.servers.instanceId());
  }

  /** Spawns of this process that went through the start queue (a resumed one did not). */
  private readonly viaQueue = new WeakSet<ActiveServer>();

  /**
   * Owner tags of the servers the start queue needs no backend report for: running or stopping,
   * or a start of this process (it holds or awaits a slot). A start resumed after a restart is
   * left out: the backend's view of it is what counts it on its node.
   */
  private knownTags(): (tag: string) => boolean {
    const tags = new Set<string>();
    for (const a of this.active.values()) {
      if (a.attempt && (a.phase !== 'spawn' || this.viaQueue.has(a))) tags.add(ownerTag(this.instanceId(), a.serverId, a.attempt));
    }
    return (tag) => tags.has(tag);
  }

  get(user: string, server: string): ActiveServer | undefined {
    return this.active.get(`${user}/${server}`);
  }

  pendingCount(): number {
    let n = 0;
    for (const a of this.active.values()) if (a.phase === 'spawn') n++;
    return n;
  }

  /** A spawner object of the configured kind; the one place the hub calls the kind's factory. */
  createSpawner(user: SpawnUser, serverName: string, log: Logger): Spawner {
    return this.hub.spawnerKind.create({
      options: this.hub.spawnerOptions,
      user,
      serverName,
      log,
      logDir: `${this.hub.config.hub.stateDir}/logs`,
      stateDir: this.hub.config.hub.stateDir,
      authState: () => {
        const row = user.name ? this.hub.stores.users.get(user.name) : undefined;
        return row ? readAuthState(this.hub, row) : null;
      },
    });
  }

  spawnUser(user: UserRow): SpawnUser {
    return { name: user.name, admin: Boolean(user.admin), groups: this.hub.stores.groups.groupsOf(user.id) };
  }

  /** Validate user options through the spawner kind (admin limits enforced there). */
  parseOptions(user: UserRow, input: unknown): Record<string, unknown> {
    if (input === null || input === undefined) return {};
    if (typeof input !== 'object' || Array.isArray(input)) {
      throw atriumError('ATRIUM_ERR_SPAWN_BAD_OPTIONS', 'Spawn options must be a JSON object');
    }
    const kind = this.hub.spawnerKind;
    // An environment from the catalogue (issue 13) decides image, resources and mounts itself.
    const env = environmentChoice(this.hub, this.spawnUser(user), input as Record<string, unknown>);
    if (!kind.parseOptions) return input as Record<string, unknown>;
    try {
      if (env) return { ...kind.parseOptions(env.spawnerOptions, env.input, this.spawnUser(user)), ...env.extra };
      return kind.parseOptions(this.hub.spawnerOptions, input as Record<string, unknown>, this.spawnUser(user));
    } catch (err) {
      // Kinds throw SpawnError for refused options; to the client that is a 400, not a failed spawn.
      if (hasCode(err, 'ATRIUM_ERR_SPAWN_FAILED')) throw atriumError('ATRIUM_ERR_SPAWN_BAD_OPTIONS', err.message, { detail: err.detail });
      throw err;
    }
  }

  checkServerName(server: string): void {
    const cfg = this.hub.config.spawner.namedServers;
    if (server === '') return;
    if (!cfg.enabled) throw atriumError('ATRIUM_ERR_SERVER_NAMED_DISABLED');
    if (!isValidServerName(server)) throw atriumError('ATRIUM_ERR_SERVER_BAD_NAME', `Invalid server name ${JSON.stringify(server.slice(0, 40))}. ${SERVER_NAME_RULE}`);
  }

  /**
   * Request a spawn. Resolves 'started' if the server is up within slowSpawnTimeoutSeconds,
   * otherwise 'pending' (the spawn goes on). Throws AtriumError for refusals.
   * `from: 'browser'`: a person clicking Start; with the start queue on they always queue (and see
   * their place on the pending page) instead of getting the API clients' 429.
   */
  async spawn(user: UserRow, server: string, options: Record<string, unknown> | null, opts: { from?: 'browser' | 'api'; accepted?: () => void } = {}): Promise<'started' | 'pending'> {
    const { config, stores } = this.hub;
    this.checkServerName(server);
    await this.gate.enter();
    const key = `${user.name}/${server}`;
    const existing = this.active.get(key);
    if (existing?.phase === 'spawn') {
      opts.accepted?.();
      return 'pending';
    }
    if (existing?.phase === 'running') throw atriumError('ATRIUM_ERR_SERVER_RUNNING', `${key} is already running`);
    if (existing?.phase === 'stop') throw atriumError('ATRIUM_ERR_SERVER_PENDING', `${key} is pending stop`);
    const limits = config.spawner;
    checkNamedLimit(this.hub, user, server);
    this.queue.resize(this.queueSlots());
    const q = config.spawner.startQueue;
    await this.nodeAdmission.configure(q.enabled ? q.perNode : 0, q.nodeRefreshSeconds);
    const queued = this.queue.enabled && opts.from === 'browser';
    if (!queued && limits.concurrentSpawnLimit > 0 && this.pendingCount() >= limits.concurrentSpawnLimit) {
      // With the queue on, the wait is known: tell API clients when a slot is likely free.
      const estimate = this.queue.estimateSeconds(this.queue.length + 1);
      const retry = String(estimate !== null ? Math.min(600, estimate) : Math.round(5 + Math.random() * 10));
      throw atriumError('ATRIUM_ERR_SPAWN_THROTTLED', undefined, { headers: { 'Retry-After': retry } });
    }
    if (limits.activeServerLimit > 0 && this.active.size >= limits.activeServerLimit) {
      throw atriumError('ATRIUM_ERR_SPAWN_ACTIVE_LIMIT', undefined, { headers: { 'Retry-After': '60' } });
    }
    const row = stores.servers.ensure(user.id, server);
    let userOptions = options ?? (row.user_options ? (JSON.parse(row.user_options) as Record<string, unknown>) : {});
    // Stored options naming an environment are checked again: its window may have closed since.
    if (!options && typeof userOptions.environment === 'string') userOptions = this.parseOptions(user, { environment: userOptions.environment });
    const prefix = serverPrefix(this.hub, user.name, server);
    const a = new ActiveServer(user.id, user.name, server, row.id, prefix, null);
    a.attempt = randomBytes(6).toString('hex');
    this.viaQueue.add(a);
    this.active.set(key, a);
    this.failures.delete(key);
    this.hub.metrics.pendingSpawns.set(this.pendingCount());
    // The intent, durable before the spawner is called: a restarted hub stops whatever carries
    // this attempt's tag unless the row says it became running.
    stores.servers.update(row.id, {
      status: 'pending',
      started: now(),
      url: null,
      state: '{}',
      spawn_attempt: a.attempt,
      user_options: JSON.stringify(userOptions),
    });
    a.done = this.runSpawn(a, user, userOptions);
    // Past every refusal: the spawn page may answer now (its progress is on the pending page).
    opts.accepted?.();
    const slow = config.spawner.slowSpawnTimeoutSeconds * 1000;
    const finished = await Promise.race([a.done.then(() => true), sleep(slow).then(() => false)]);
    if (!finished) return 'pending';
    if (a.phase !== 'running') {
      const f = this.failures.get(key);
      throw f?.code === 'ATRIUM_ERR_SPAWN_CANCELLED' ? atriumError(f.code) : atriumError('ATRIUM_ERR_SPAWN_FAILED', f?.message);
    }
    return 'started';
  }

  private async runSpawn(a: ActiveServer, user: UserRow, userOptions: Record<string, unknown>): Promise<void> {
    const { stores, config, log, metrics } = this.hub;
    const t0 = performance.now();
    const slog = log.child({ user: a.userName, server: a.serverName });
    a.emit({ progress: 0, message: 'Server requested' });
    const token = newToken();
    const clientId = oauthClientId(a.userName, a.serverName);
    let stage = 'prepare';
    let release: Slot | null = null;
    let starting: Promise<{ url: string }> | null = null;
    try {
      stores.db.transaction(() => {
        stores.tokens.deleteForServer(a.serverId);
        stores.tokens.insert({
          userId: a.userId,
          prefix: tokenPrefix(token),
          hashed: hashToken(token),
          scopes: ROLES.server!,
          note: `Server at ${a.prefix}`,
          serverId: a.serverId,
        });
        stores.oauth.upsertClient({
          id: clientId,
          secret_hash: hashToken(token),
          redirect_uri: `${a.prefix}oauth_callback`,
          description: `Server at ${a.prefix}`,
          allowedScopes: accessScopes(a.userName, a.serverName),
          server_id: a.serverId,
        });
      })();
      const spawnUser = this.spawnUser(user);
      const authState = readAuthState(this.hub, user);
      let env = buildEnv(this.hub, { user: a.userName, server: a.serverName, apiToken: token });
      let options = userOptions;
      if (this.hub.hooks.length) {
        stage = 'hooks';
        a.emit({ progress: 5, message: 'Preparing your account' });
        const out = await runPreSpawn(this.hub.hooks, {
          user: spawnUser,
          serverName: a.serverName,
          authState,
          env,
          userOptions: options,
          log: slog,
          signal: a.abort.signal,
        });
        env = out.env;
        options = out.userOptions;
      }
      a.spawnEnv = env;
      a.spawnOptions = options;
      stage = 'queue';
      release = await this.queue.acquire(
        a.key,
        a.abort.signal,
        (p) => {
          a.queue = p;
          a.emit({ progress: 3, message: queueMessage(p), queue: p });
        },
        this.nodeAdmission.placementFor(options),
      );
      if (a.queue) {
        a.queue = null;
        a.emit({ progress: 5, message: 'Your turn: starting your server' });
      }
      stage = 'start';
      const spawner = this.createSpawner(spawnUser, a.serverName, slog);
      a.spawner = spawner;
      const startTimeout = config.spawner.startTimeoutSeconds * 1000;
      const timer = setTimeout(() => a.abort.abort(new Error('start timeout')), startTimeout);
      let url: string;
      try {
        // A cancel during the hooks: an already-aborted signal fires no 'abort' event below.
        if (a.abort.signal.aborted) throw abortError(a, config.spawner.startTimeoutSeconds);
        starting = spawner.start({
          user: spawnUser,
          serverName: a.serverName,
          env,
          userOptions: options,
          authState,
          baseUrl: a.prefix,
          log: slog,
          signal: a.abort.signal,
          ownerTag: ownerTag(this.instanceId(), a.serverId, a.attempt!),
          ...(release.node !== undefined ? { node: release.node } : {}),
          recordHandle: (state) => void stores.servers.recordHandle(a.serverId, a.attempt!, JSON.stringify(state)),
          registryLogins: this.hub.config.images?.registries ?? [],
        });
        // Runs beside start() and stops by itself when the spawn leaves the 'spawn' phase. Only
        // after the call: every kind opens this attempt's progress log as start() begins, and a
        // reader opened earlier would follow the previous (ended or never-written) one.
        void this.pumpProgress(a);
        ({ url } = await Promise.race([
          starting,
          new Promise<never>((_, reject) =>
            a.abort.signal.addEventListener('abort', () => reject(abortError(a, config.spawner.startTimeoutSeconds)), { once: true }),
          ),
        ]));
      } finally {
        clearTimeout(timer);
      }
      url = url.replace(/\/+$/, '');
      a.url = url;
      stores.servers.update(a.serverId, { url, state: JSON.stringify(spawner.state()) });
      stage = 'http';
      a.emit({ progress: 90, message: 'Server started; waiting for it to answer' });
      const up = await waitUp(`${url}${a.prefix}`, config.spawner.httpTimeoutSeconds * 1000, a.abort.signal);
      if (!up.ok) throw atriumError('ATRIUM_ERR_SPAWN_HTTP_TIMEOUT', `Server did not answer at ${url}${a.prefix} within ${config.spawner.httpTimeoutSeconds} seconds`, { detail: up.detail });
      stage = 'proxy';
      await this.goLive(a, url);
      release();
      const seconds = (performance.now() - t0) / 1000;
      metrics.spawnDuration.observe({ status: 'success' }, seconds);
      slog.info({ seconds: Math.round(seconds * 100) / 100, url }, 'server ready');
    } catch (err) {
      release?.();
      a.queue = null;
      // Whatever a cancelled attempt threw on its way out (a hook's or a kind's "cancelled"), the cancel is the story.
      const failure = classifyError(wasCancelled(a) ? atriumError('ATRIUM_ERR_SPAWN_CANCELLED', undefined, { detail: String(err) }) : err, { unexpected: 'ATRIUM_ERR_SPAWN_INTERNAL', storage: this.hub.stores.health });
      logClassified(slog, failure, wasCancelled(a) ? 'spawn cancelled' : 'spawn failed', { stage });
      metrics.spawnFailures.inc({ reason: wasCancelled(a) ? 'cancelled' : stage });
      metrics.spawnDuration.observe({ status: 'failure' }, (performance.now() - t0) / 1000);
      this.failures.set(a.key, failure);
      a.emit({ progress: 100, failed: true, message: spawnFailureText(failure) });
      a.abort.abort(new Error('spawn failed'));
      await startSettled(starting);
      if (a.spawner) await a.spawner.stop().catch((e) => slog.warn({ err: String(e) }, 'cleanup after failed spawn: stop failed'));
      this.cleanup(a, clientId);
      this.active.delete(a.key);
    } finally {
      a.finishEvents();
      metrics.pendingSpawns.set(this.pendingCount());
      metrics.runningServers.set(this.runningCount());
    }
  }

  private async pumpProgress(a: ActiveServer): Promise<void> {
    const sp = a.spawner;
    if (!sp?.progress) {
      a.emit({ progress: 50, message: 'Spawning server...' });
      return;
    }
    try {
      for await (const e of sp.progress()) {
        if (a.phase !== 'spawn') break;
        // Never backwards: the hub's own 90 ("waiting for it to answer") may already be out.
        const floor = a.events[a.events.length - 1]?.progress ?? 0;
        a.emit({ progress: Math.max(floor, Math.min(e.progress, 89)), message: e.message, htmlMessage: e.htmlMessage });
      }
    } catch (err) {
      this.hub.log.debug({ err: String(err) }, 'progress stream ended with an error');
    }
  }

  cleanup(a: ActiveServer, clientId: string): void {
    const { stores } = this.hub;
    stores.db.transaction(() => {
      stores.tokens.deleteForServer(a.serverId);
      stores.oauth.deleteClient(clientId);
      stores.oauth.deleteClientsForServer(a.serverId);
      stores.servers.update(a.serverId, { status: 'stopped', url: null, state: '{}' });
    })();
  }

  runningCount(): number {
    let n = 0;
    for (const a of this.active.values()) if (a.phase === 'running') n++;
    return n;
  }

  /** Stop a server. Resolves 'stopped', or 'pending' if it takes longer than the slow timeout. */
  async stop(user: UserRow, server: string): Promise<'stopped' | 'pending'> {
    await this.gate.enter();
    const a = this.active.get(`${user.name}/${server}`);
    if (!a) return 'stopped';
    if (a.phase === 'spawn') {
      // Cancel the start (cancel.ts). If it was already past the point of no return, the server
      // is now running: stop it the ordinary way.
      const r = await cancelSpawn(a, 'stop requested', this.hub.config.spawner.slowSpawnTimeoutSeconds * 1000);
      return this.active.get(a.key)?.phase === 'running' ? this.stop(user, server) : r;
    }
    if (a.phase === 'stop') return 'pending';
    a.phase = 'stop';
    this.hub.stores.servers.update(a.serverId, { status: 'stopping' });
    a.done = this.runStop(a, user, 'stop requested');
    const finished = await Promise.race([a.done.then(() => true), sleep(this.hub.config.spawner.slowSpawnTimeoutSeconds * 1000).then(() => false)]);
    return finished ? 'stopped' : 'pending';
  }

  private async runStop(a: ActiveServer, user: UserRow | undefined, why: string): Promise<void> {
    const { log } = this.hub;
    if (a.pollTimer) clearTimeout(a.pollTimer);
    const hookInputs = this.postStopInputs(a);
    // Route first, so no request reaches a server that is going away (JupyterHub's order).
    await this.hub.routes.remove(a.prefix).catch((e) => log.warn({ err: String(e), server: a.key }, 'could not remove route'));
    try {
      await a.spawner?.stop();
    } catch (err) {
      log.error({ err, server: a.key }, 'spawner stop failed; marking stopped anyway');
    }
    this.cleanup(a, oauthClientId(a.userName, a.serverName));
    this.hub.stores.health.bookkeeping(() => this.hub.stores.servers.touch(a.serverId, now()));
    this.active.delete(a.key);
    this.hub.metrics.runningServers.set(this.runningCount());
    log.info({ server: a.key, why }, 'server stopped');
    const u = user ?? this.hub.stores.users.getById(a.userId);
    if (u && this.hub.hooks.length) {
      await runPostStop(this.hub.hooks, {
        user: this.spawnUser(u),
        serverName: a.serverName,
        authState: readAuthState(this.hub, u),
        env: hookInputs.env,
        userOptions: hookInputs.userOptions,
        log: log.child({ user: a.userName, server: a.serverName }),
      });
    }
  }

  /**
   * What post-stop hooks get (hook.ts): the spawn's env and options, minus the server's API token
   * (revoked by the stop, so useless, and a secret a hook has no reason to see). A server restored
   * after a hub restart has nothing in memory: its env is rebuilt the way the spawn built it
   * (without the token and without what pre-spawn hooks added) and its options are the stored ones.
   */
  private postStopInputs(a: ActiveServer): { env: Record<string, string>; userOptions: Record<string, unknown> } {
    const env = { ...(a.spawnEnv ?? buildEnv(this.hub, { user: a.userName, server: a.serverName, apiToken: '' })) };
    for (const k of SERVER_SECRET_ENV) delete env[k];
    let userOptions = a.spawnOptions;
    if (!userOptions) {
      try {
        userOptions = JSON.parse(this.hub.stores.servers.getById(a.serverId)?.user_options ?? '{}') as Record<string, unknown>;
      } catch {
        userOptions = {};
      }
    }
    return { env, userOptions: userOptions ?? {} };
  }

  /**
   * The last step of a start (and of a start resumed after a restart, resume.ts), once the server
   * answers: its route, the row marked running, the "ready" event, the first poll.
   */
  async goLive(a: ActiveServer, url: string): Promise<void> {
    await this.hub.routes.add({ spec: a.prefix, target: url, user: a.userName, server: a.serverName });
    this.hub.stores.servers.update(a.serverId, { status: 'running', state: JSON.stringify(a.spawner!.state()), last_activity: now() });
    a.phase = 'running';
    a.emit({
      progress: 100,
      ready: true,
      message: `Server ready at ${a.prefix}`,
      htmlMessage: `Server ready at <a href="${a.prefix}">${a.prefix}</a>`,
      url: a.prefix,
    });
    this.schedulePoll(a);
  }

  schedulePoll(a: ActiveServer): void {
    const interval = this.hub.config.spawner.pollIntervalSeconds;
    if (interval <= 0 || this.stopped) return;
    const jittered = interval * 1000 * (0.8 + Math.random() * 0.4);
    a.pollTimer = setTimeout(() => void this.pollOne(a), jittered);
    a.pollTimer.unref();
  }

  private async pollOne(a: ActiveServer): Promise<void> {
    if (a.phase !== 'running' || this.stopped) return;
    let status;
    try {
      status = await a.spawner!.poll();
    } catch (err) {
      this.hub.log.warn({ err: String(err), server: a.key }, 'poll failed; will try again');
      status = null;
    }
    if (status === null) return this.schedulePoll(a);
    if (a.phase !== 'running') return;
    this.hub.log.warn({ server: a.key, status }, 'server is no longer running');
    a.phase = 'stop';
    a.done = this.runStop(a, undefined, `server exited: ${status.reason}`);
  }

  /**
   * After a hub restart: re-attach running servers, stop everything else this hub started (see
   * restore.ts), then open the gate for requests that touch servers. Called once, at start.
   */
  async restore(): Promise<RestoreResult> {
    try {
      return await restoreServers(this.hub, this);
    } finally {
      this.gate.open();
      // Per-node counts start from what the backend shows still starting (decision 0027), read
      // now rather than at the first click.
      const q = this.hub.config.spawner.startQueue;
      if (q.enabled && q.perNode > 0) void this.nodeAdmission.configure(q.perNode, q.nodeRefreshSeconds).catch(() => undefined);
    }
  }

  /** Leave every server running; just stop timers (graceful hub shutdown). */
  detach(): void {
    this.stopped = true;
    this.nodeAdmission.close();
    for (const a of this.active.values()) if (a.pollTimer) clearTimeout(a.pollTimer);
  }

  /** Wanted proxy routes: the running servers. */
  wantedRoutes() {
    const out = [];
    for (const a of this.active.values()) {
      if (a.phase === 'running' && a.url) out.push({ spec: a.prefix, target: a.url, user: a.userName, server: a.serverName });
    }
    return out;
  }

  pendingSpecs(): Set<string> {
    const s = new Set<string>();
    for (const a of this.active.values()) if (a.phase !== 'running') s.add(a.prefix);
    return s;
  }
}
