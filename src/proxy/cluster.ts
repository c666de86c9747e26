/**
 * `--workers N`: one atrium-proxy on several cores with one route table. CHP is one Node process
 * and cannot use a second core; here the primary process owns the table and the REST API (so the
 * CHP API, its auth and its semantics are exactly the single-process ones), and N worker
 * processes (node:cluster, connections handed out round-robin) serve the public port from
 * copies of the table that the primary keeps current:
 *
 * - a worker says hello, gets the whole table, and only then listens, so it never answers a
 *   request with a table it has not received;
 * - every POST/DELETE is relayed to every worker (IPC keeps the order per worker);
 * - `last_activity` lives where the traffic is: before answering a GET the primary asks the
 *   workers for what changed (bounded wait), so the hub's activity tracking sees fresh values;
 * - metrics are the sum over the workers plus the primary's API counters;
 * - a worker that dies is replaced (with a growing delay if it keeps dying young); a worker whose
 *   primary is gone exits, so no orphan keeps the port.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
// The class from its own file: prom-client's index also loads its Pushgateway (src/shared/prom.ts).
import AggregatorRegistry from 'prom-client/lib/cluster.js';
import { createApiHandler } from './api.js';
import { ProxyMetrics } from './metrics.js';
import type { ProxyOptions } from './options.js';
import { RouteTable, type RouteData } from './routes.js';
import { closeServers, createMetricsServer, createPublicServer, listen, type RunningProxy } from './server.js';

type Snapshot = [prefix: string, data: RouteData, lastActivity: number][];
type ToWorker =
  | { t: 'routes'; routes: Snapshot }
  | { t: 'set'; prefix: string; data: RouteData; lastActivity: number }
  | { t: 'del'; prefix: string }
  | { t: 'ask'; id: number; what: 'activity' | 'metrics' };
type ToPrimary =
  | { t: 'hello' }
  | { t: 'listening'; port: number }
  | { t: 'answer'; id: number; activity?: [string, number][]; metrics?: MetricObjectWithValues<MetricValue<string>>[] };

/** How long a GET /api/routes or a metrics scrape waits for the workers' answers. */
const ASK_TIMEOUT_MS = 500;
/** A worker that dies younger than this is restarted after a growing delay (crash loop guard). */
const YOUNG_MS = 5000;
const MAX_RESTART_DELAY_MS = 5000;

const isAtriumMessage = (m: unknown): m is { t: string } => typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';

export async function startPrimary(options: ProxyOptions, log: Logger): Promise<RunningProxy> {
  const table = new RouteTable();
  const metrics = new ProxyMetrics(table);
  if (options.defaultTarget) table.set('/', { target: options.defaultTarget });
  const synced = new Set<Worker>();
  const send = (w: Worker, m: ToWorker) => {
    if (w.isConnected()) w.send(m);
  };
  table.onChange = (prefix, route) => {
    const m: ToWorker = route ? { t: 'set', prefix, data: route.data, lastActivity: route.lastActivity } : { t: 'del', prefix };
    for (const w of synced) send(w, m);
  };

  let askId = 0;
  const pending = new Map<number, { left: Set<Worker>; answers: ToPrimary[]; done: () => void }>();
  /** Ask every synced worker; resolves with the answers that came within ASK_TIMEOUT_MS. */
  const ask = (what: 'activity' | 'metrics'): Promise<Extract<ToPrimary, { t: 'answer' }>[]> => {
    const id = ++askId;
    const left = new Set([...synced].filter((w) => w.isConnected()));
    if (left.size === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const answers: Extract<ToPrimary, { t: 'answer' }>[] = [];
      const timer = setTimeout(() => finish(), ASK_TIMEOUT_MS);
      const finish = () => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(answers);
      };
      pending.set(id, { left, answers, done: finish });
      for (const w of left) send(w, { t: 'ask', id, what });
    });
  };

  let stopping = false;
  let restartDelay = 0;
  let publicPort = 0;
  let firstListening: (port: number) => void = () => undefined;
  const listening = new Promise<number>((r) => (firstListening = r));
  const born = new WeakMap<Worker, number>();

  const fork = (): void => {
    const w = cluster.fork();
    born.set(w, Date.now());
    w.on('message', (m: unknown) => {
      if (!isAtriumMessage(m)) return;
      const msg = m as ToPrimary;
      if (msg.t === 'hello') {
        const routes: Snapshot = [...table.entries()].map((r) => [r.prefix, r.data, r.lastActivity]);
        send(w, { t: 'routes', routes });
        synced.add(w);
      } else if (msg.t === 'listening') {
        publicPort = msg.port;
        firstListening(msg.port);
      } else if (msg.t === 'answer') {
        const p = pending.get(msg.id);
        if (!p) return;
        p.answers.push(msg);
        p.left.delete(w);
        if (p.left.size === 0) p.done();
      }
    });
  };

  cluster.on('exit', (w, code, signal) => {
    synced.delete(w);
    for (const p of pending.values()) {
      if (p.left.delete(w) && p.left.size === 0) p.done();
    }
    if (stopping) return;
    const age = Date.now() - (born.get(w) ?? 0);
    restartDelay = age < YOUNG_MS ? Math.min(MAX_RESTART_DELAY_MS, Math.max(100, restartDelay * 2)) : 0;
    log.error({ pid: w.process.pid, code, signal, restartInMs: restartDelay }, 'proxy worker exited; starting a new one');
    setTimeout(() => {
      if (!stopping) fork();
    }, restartDelay).unref();
  });

  // Round-robin by the primary: even spread over the workers (the kernel's accept spread is not).
  // Node's own NODE_CLUSTER_SCHED_POLICY=none still selects the kernel's spread (measured in
  // bench/proxy/RESULTS.md: with keep-alive clients the hand-off costs nothing per request).
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_RR;
  for (let i = 0; i < options.workers; i++) fork();

  const applyActivity = async () => {
    for (const a of await ask('activity')) {
      for (const [prefix, at] of a.activity ?? []) {
        const r = table.get(prefix);
        if (r && at > r.lastActivity) r.lastActivity = at;
      }
    }
  };
  const apiServer = createHttpServer(createApiHandler({
    table, authToken: options.authToken, hostRouting: options.hostRouting, metrics, log, beforeRead: applyActivity,
  }));
  const metricsServer = options.metricsPort !== undefined
    ? createMetricsServer(async () => {
        const parts = [await metrics.registry.getMetricsAsJSON(), ...(await ask('metrics')).map((a) => a.metrics ?? [])];
        return AggregatorRegistry.aggregate(parts).metrics();
      }, metrics.registry.contentType)
    : undefined;

  const apiPort = await listen(apiServer, options.apiPort, options.apiIp);
  const metricsPort = metricsServer ? await listen(metricsServer, options.metricsPort!, options.metricsIp) : undefined;
  const proxyPort = await listening;
  log.info({ ip: options.ip || '*', port: proxyPort, workers: options.workers }, 'proxying');
  log.info({ ip: options.apiIp, port: apiPort }, 'REST API listening');
  if (!options.authToken) log.warn('REST API is not authenticated: CONFIGPROXY_AUTH_TOKEN is empty');

  return {
    table,
    get proxyPort() {
      return publicPort;
    },
    apiPort,
    metricsPort,
    async close() {
      stopping = true;
      const exits = Object.values(cluster.workers ?? {}).map(
        (w) => w && new Promise<void>((r) => {
          if (w.isDead()) return r();
          w.once('exit', () => r());
          w.process.kill('SIGTERM');
        }),
      );
      await closeServers([apiServer, metricsServer]);
      await Promise.all(exits);
    },
  };
}

/** A worker: the public listener over a copy of the primary's table. */
export async function startWorker(options: ProxyOptions, log: Logger): Promise<{ close(): Promise<void> }> {
  const table = new RouteTable();
  const metrics = new ProxyMetrics(table);
  // What each route's last_activity was when the primary last asked, to send only changes.
  const reported = new Map<string, number>();
  const toPrimary = (m: ToPrimary) => process.send?.(m);
  let gotTable: () => void = () => undefined;
  const synced = new Promise<void>((r) => (gotTable = r));

  process.on('message', (m: unknown) => {
    if (!isAtriumMessage(m)) return;
    const msg = m as ToWorker;
    switch (msg.t) {
      case 'routes':
        table.clear();
        reported.clear();
        for (const [prefix, data, at] of msg.routes) {
          table.set(prefix, data, at);
          reported.set(prefix, at);
        }
        gotTable();
        break;
      case 'set':
        table.set(msg.prefix, msg.data, msg.lastActivity);
        reported.set(msg.prefix, msg.lastActivity);
        break;
      case 'del':
        table.delete(msg.prefix);
        reported.delete(msg.prefix);
        break;
      case 'ask':
        if (msg.what === 'activity') {
          const activity: [string, number][] = [];
          for (const r of table.entries()) {
            if (r.lastActivity !== reported.get(r.prefix)) {
              activity.push([r.prefix, r.lastActivity]);
              reported.set(r.prefix, r.lastActivity);
            }
          }
          toPrimary({ t: 'answer', id: msg.id, activity });
        } else {
          void metrics.registry.getMetricsAsJSON().then((json) => toPrimary({ t: 'answer', id: msg.id, metrics: json }));
        }
        break;
    }
  });
  // The primary is gone (killed, crashed): stop serving rather than keep the port as an orphan.
  process.on('disconnect', () => process.exit(0));
  toPrimary({ t: 'hello' });
  await synced;

  const pub = createPublicServer(options, table, metrics, log);
  const server: Server = pub.server;
  const port = await listen(server, options.port, options.ip);
  toPrimary({ t: 'listening', port });
  return {
    async close() {
      await closeServers([server]);
      await pub.closeAgents();
    },
  };
}
