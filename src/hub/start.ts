/**
 * Start a hub from a validated config: state, secrets, plugins, HTTP, the proxy, then restore
 * servers from the database and reconcile routes. Stopping the hub (close) leaves user servers,
 * the proxy process and its routes alone, so users keep working through a hub restart.
 */
import { join, resolve } from 'node:path';
import { connectHost, hostPort } from '../shared/address.js';
import { pino, type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { AtriumConfig } from './config/schema.js';
import type { HubContext, HubUrls } from './context.js';
import type { SpawnDeps } from './spawn/deps.js';
import { openStores, type Stores } from './db/index.js';
import { AuthStateCipher, loadSecret } from './auth/crypto.js';
import { ensurePrivateDir } from './private-files.js';
import { Metrics } from './metrics.js';
import { SpawnManager } from './spawn/manager.js';
import { RouteKeeper } from './spawn/routes.js';
import { buildApp } from './app.js';
import { loadAuthenticator, loadHooks, loadSpawnerKind } from './registry.js';
import { ProxyClient, routespecToPath } from './proxy-client.js';
import { httpCall } from './http-call.js';
import { classifyError, logClassified } from './error-classify.js';
import { ProxyProcess } from './proxy-process.js';
import { checkedUsername } from './auth/pipeline.js';
import { VERSION } from '../version.js';
import { IdleCuller } from './culler/culler.js';
import { ServiceRegistry } from './services/registry.js';
import { ServiceProcess, serviceEnv } from './services/process.js';
import type { ShutdownRequest } from './api/hub.js';

export interface RunningHub {
  app: FastifyInstance;
  hub: HubContext;
  /** http://ip:port of the hub itself. */
  hubUrl: string;
  /** Public URL of the proxy (child proxy), e.g. http://127.0.0.1:8000. */
  publicUrl: string;
  proxyProcess: ProxyProcess | null;
  /** The built-in idle culler, when culler.enabled. */
  culler: IdleCuller | null;
  /**
   * Graceful stop: servers, proxy and routes keep running. `proxyFollows` (development mode) says
   * the caller stops the proxy next, so the closing log line does not promise that it keeps running.
   */
  close(opts?: { proxyFollows?: boolean }): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  env?: NodeJS.ProcessEnv;
  /**
   * Called after the fatal line when the database can no longer be written (read-only, I/O
   * error). The command line exits non-zero; the default closes the hub.
   */
  onFatal?: () => void;
}

export async function startHub(config: AtriumConfig, opts: StartOptions = {}): Promise<RunningHub> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? pino({ level: config.logLevel, base: { app: 'atrium-hub' } });
  const stateDir = resolve(config.hub.stateDir);
  ensurePrivateDir(stateDir);
  ensurePrivateDir(join(stateDir, 'logs'));
  const dbFile = join(stateDir, 'atrium.sqlite');
  const stores = openStores(dbFile);
  stores.health.onFatal = (err) => {
    log.fatal(
      { code: (err as { code?: string }).code, reason: err.message, database: dbFile },
      'the database can no longer be written (read-only, I/O error or damaged storage); the hub stops so that a supervisor restarts it once the storage is back',
    );
    if (opts.onFatal) opts.onFatal();
    else void closeFn();
  };
  stores.health.onWarning = (message) => log.warn({ database: dbFile }, message);
  const cipher = new AuthStateCipher(loadSecret(stateDir, 'auth-state.key', env.ATRIUM_CRYPT_KEY ?? env.JUPYTERHUB_CRYPT_KEY));
  const proxyToken = config.proxy.authToken ?? loadSecret(stateDir, 'proxy-token', env.CONFIGPROXY_AUTH_TOKEN);
  // Kept in stateDir so a proxy adopted after a hub restart still holds the same proof.
  const proxyProof = loadSecret(stateDir, 'proxy-proof', env.ATRIUM_PROXY_PROOF);
  if (proxyProof.length < 16) throw new Error('ATRIUM_PROXY_PROOF is too short to be a secret (use openssl rand -hex 32)');
  const metrics = new Metrics();
  const authenticator = await loadAuthenticator(config, log);
  const { kind: spawnerKind, options: spawnerOptions } = await loadSpawnerKind(config);
  const hooks = await loadHooks(config, log);

  const base = config.hub.baseUrl;
  const urls: HubUrls = {
    base,
    hub: `${base}hub/`,
    api: `${base}hub/api`,
    apiForServers: '',
    hubTarget: '',
    secure: config.hub.publicUrl?.startsWith('https:') ?? false,
  };
  const proxy = new ProxyClient({ apiUrl: config.proxy.apiUrl, authToken: proxyToken, log: log.child({ component: 'proxy-client' }) });
  const services = new ServiceRegistry(config, base);
  services.syncOAuthClients(stores);
  const serviceRoutes = [...services.byName.values()]
    .filter((s) => s.prefix && s.config.url)
    .map((s) => ({ spec: s.prefix, target: new URL(s.config.url!).origin, user: '', server: '', service: s.name }));
  // The route keeper and the spawn manager know each other only through these closures.
  let spawns: SpawnManager | undefined;
  const routes = new RouteKeeper({
    proxy,
    log: log.child({ component: 'routes' }),
    metrics,
    hubRoute: { spec: base, get target() { return urls.hubTarget; } },
    wanted: () => [...(spawns?.wantedRoutes() ?? []), ...serviceRoutes],
    pendingSpecs: () => spawns?.pendingSpecs() ?? new Set<string>(),
    onActivity: (r) => recordProxyActivity(stores, r),
  });
  const deps: SpawnDeps = { config, log, stores, cipher, urls, spawnerKind, spawnerOptions, hooks, metrics, routes };
  spawns = new SpawnManager(deps);
  // One object: a SIGHUP reload swaps `config` on it, and the manager sees the same object.
  const hub: HubContext = Object.assign(deps, { authenticator, spawns, proxyProof, services, version: VERSION });

  // Users named in the config exist from the start, admins get their flag (as JupyterHub does).
  for (const raw of config.authenticator.adminUsers) {
    const { user } = stores.users.ensure(checkedUsername(hub, raw));
    stores.users.setAdmin(user.id, true);
  }
  for (const raw of config.authenticator.allowedUsers) stores.users.ensure(checkedUsername(hub, raw));

  let shuttingDown = false;
  let closeFn: (opts?: { proxyFollows?: boolean }) => Promise<void> = async () => undefined;
  let stopProxyOnClose = false;
  const app = await buildApp(hub, {
    requestShutdown: (o: ShutdownRequest) => {
      stopProxyOnClose = o.proxy;
      void closeFn();
    },
  });
  await app.listen({ host: config.hub.ip, port: config.hub.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.hub.port;
  urls.hubTarget = `http://${hostPort(connectHost(config.hub.ip), port)}`;
  urls.apiForServers = `${(config.hub.connectUrl ?? urls.hubTarget).replace(/\/+$/, '')}${urls.api}`;
  log.info({ url: urls.hubTarget + urls.hub }, 'hub listening');

  let proxyProcess: ProxyProcess | null = null;
  const api = new URL(config.proxy.apiUrl);
  if (!config.proxy.external) {
    proxyProcess = new ProxyProcess({
      command: config.proxy.command.length ? [...config.proxy.command] : undefined,
      ip: config.proxy.ip,
      port: config.proxy.port,
      apiIp: api.hostname,
      apiPort: Number(api.port || 80),
      authToken: proxyToken,
      proxyProof,
      errorTarget: `${urls.hubTarget}${urls.hub}error`,
      logLevel: config.logLevel === 'debug' ? 'debug' : 'warn',
      pidFile: join(stateDir, 'proxy.pid'),
      logFile: join(stateDir, 'logs', 'proxy.log'),
      log: log.child({ component: 'proxy-process' }),
    });
    const how = await proxyProcess.start();
    log.info({ how }, 'proxy ready');
  }
  // The hub cannot route anyone without the proxy: wait for its API (ProxyClient retries 30 s).
  await proxy.getRoutes();
  const restored = await hub.spawns.restore();
  log.info(restored, 'servers restored from the database');
  await hub.routes.reconcile();

  const timers: NodeJS.Timeout[] = [];
  const every = (seconds: number, fn: () => Promise<unknown>) => {
    const t = setInterval(() => void fn().catch((err) => logClassified(log, classifyError(err), 'periodic task failed')), seconds * 1000);
    t.unref();
    timers.push(t);
  };
  every(config.proxy.checkRoutesIntervalSeconds, () => hub.routes.reconcile());
  every(config.proxy.checkRunningIntervalSeconds, async () => {
    if (shuttingDown) return;
    if (proxyProcess && !proxyProcess.isRunning()) {
      log.error('the proxy process died; restarting it and restoring routes');
      await proxyProcess.start();
      await hub.routes.reconcile();
      return;
    }
    // An external proxy may have restarted with an empty table: a cheap probe of one route.
    if (await routeTableLost(hub, proxy, proxy.current.apiUrl, proxy.current.authToken)) {
      log.warn('the proxy lost its routing table; restoring routes');
      await hub.routes.reconcile();
    }
  });
  every(3600, async () => {
    stores.tokens.deleteExpired();
    stores.sessions.deleteExpired(new Date().toISOString());
  });

  // Managed services start once the hub answers (they call its API at start) and routes exist.
  const serviceProcs = [...services.byName.values()]
    .filter((s) => s.config.command.length > 0)
    .map((s) => new ServiceProcess(s, {
      // PATH, LANG and the like come from the hub process itself, as JupyterHub's env_keep does.
      env: serviceEnv(s, { apiUrl: urls.apiForServers, base, hubEnv: process.env }),
      logDir: join(stateDir, 'logs'),
      log: log.child({ component: 'service', service: s.name }),
    }));
  for (const p of serviceProcs) p.start();

  const culler = config.culler.enabled ? new IdleCuller(hub, { recordProxyActivity: (r) => recordProxyActivity(stores, r) }) : null;
  culler?.start();

  closeFn = async (opts = {}) => {
    if (shuttingDown) return;
    shuttingDown = true;
    // Counted before detach: what is still running is what outlives the hub.
    const stillRunning = [...hub.spawns.active.values()].filter((a) => a.phase !== 'stop').length;
    for (const t of timers) clearInterval(t);
    await culler?.close();
    await Promise.allSettled(serviceProcs.map((p) => p.stop()));
    hub.spawns.detach();
    await app.close();
    await authenticator.close?.().catch(() => undefined);
    for (const h of hooks) await h.hook.close?.().catch(() => undefined);
    await spawnerKind.close?.().catch(() => undefined);
    stores.db.close();
    if (stopProxyOnClose && proxyProcess) {
      // POST /hub/api/shutdown {"proxy": true}: the one case where the proxy goes with the hub.
      await proxyProcess.stop().catch((err) => log.warn({ err: String(err) }, 'could not stop the proxy'));
      log.info('hub and proxy stopped (shutdown with proxy: true); user servers keep running');
      return;
    }
    if (stopProxyOnClose) log.warn('shutdown asked to stop the proxy, but it is external (proxy.external); it keeps running');
    const servers = `${stillRunning} user server${stillRunning === 1 ? '' : 's'}`;
    log.info({ servers: stillRunning }, opts.proxyFollows ? `hub stopped; ${servers} left running` : `hub stopped; ${servers} and the proxy keep running`);
  };
  return { app, hub, hubUrl: urls.hubTarget, publicUrl: `http://${hostPort(connectHost(config.proxy.ip), config.proxy.port)}`, proxyProcess, culler, close: (opts) => closeFn(opts) };
}

/**
 * True when the proxy is missing the hub route or a running server's route. The hub route is
 * always part of the probe: without it nobody can log in, and it must not wait for the (much
 * slower) full reconcile just because some user route happened to be the one probed.
 */
async function routeTableLost(hub: HubContext, proxy: ProxyClient, apiUrl: string, token: string): Promise<boolean> {
  const wanted = hub.spawns.wantedRoutes();
  const probe = wanted.length ? wanted[Math.floor(Math.random() * wanted.length)]! : null;
  const hubPath = routespecToPath(hub.urls.base);
  // '/api/routes/' lists the whole table (CHP has no single-route GET for '/'), so a hub at the
  // root is checked in that listing, together with the probed user route.
  if (hubPath === '/') {
    const routes = await proxy.getRoutes();
    const hubRoute = routes['/'];
    if (!hubRoute || hubRoute.target !== hub.urls.hubTarget) return true;
    return probe !== null && !routes[routespecToPath(probe.spec)];
  }
  for (const spec of probe ? [hub.urls.base, probe.spec] : [hub.urls.base]) {
    const res = await httpCall(`${apiUrl.replace(/\/+$/, '')}/api/routes${routespecToPath(spec)}`, {
      headers: { Authorization: `token ${token}` },
      timeoutMs: 5000,
    });
    if (res.status === 404) return true;
  }
  return false;
}

function recordProxyActivity(stores: Stores, routes: Record<string, Record<string, unknown>>): void {
  // Activity is bookkeeping: while the database is locked it waits for the next round.
  stores.health.bookkeeping(() => stores.db.transaction(() => {
    for (const data of Object.values(routes)) {
      if (typeof data.user !== 'string' || typeof data.server_name !== 'string' || typeof data.last_activity !== 'string') continue;
      const user = stores.users.get(data.user);
      const server = user ? stores.servers.get(user.id, data.server_name) : undefined;
      if (!user || !server) continue;
      const ts = new Date(data.last_activity).toISOString();
      stores.users.touch(user.id, ts);
      stores.servers.touch(server.id, ts);
    }
  })());
}
