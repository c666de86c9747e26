/**
 * Keeps the proxy's routing table equal to what the database says should be running.
 * Routes carry `"jupyterhub": true`, the user and the server name (as JupyterHub marks them), so
 * several hubs' or an admin's own routes are never touched. Reconciliation runs at start,
 * periodically, and after the proxy lost its table; the hub never deletes routes on shutdown.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';

export interface ProxyApi {
  getRoutes(): Promise<Record<string, Record<string, unknown>>>;
  addRoute(routespec: string, target: string, data: Record<string, unknown>): Promise<void>;
  deleteRoute(routespec: string): Promise<void>;
  reconfigure?(o: { apiUrl?: string; authToken?: string }): void;
  readonly current?: { apiUrl: string; authToken: string };
}

export interface WantedRoute {
  /** '/user/alice/' (escaped, trailing slash) */
  spec: string;
  target: string;
  user: string;
  server: string;
  /** Set for a service's route (/services/NAME/): the route data names the service, not a user. */
  service?: string;
}

/** CHP keys are decoded and have no trailing slash ('/user/alice'); routespecs are escaped with one. */
export function specToKey(spec: string): string {
  let k = spec.startsWith('/') ? spec : '/' + spec;
  if (k.length > 1 && k.endsWith('/')) k = k.slice(0, -1);
  try {
    return decodeURIComponent(k);
  } catch {
    return k;
  }
}

/** The inverse of specToKey: re-escape each segment and add the trailing slash. */
export function keyToSpec(key: string): string {
  if (key === '/') return '/';
  return key.split('/').map((seg) => encodeURIComponent(seg).replace(/%40/g, '@').replace(/%7E/gi, '~')).join('/') + '/';
}

export class RouteKeeper {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly opts: {
      proxy: ProxyApi;
      log: Logger;
      metrics: Metrics;
      /** The hub's own route: spec (base url) and target. */
      hubRoute: { spec: string; target: string };
      wanted: () => WantedRoute[];
      /** Servers still starting or stopping: their routes are neither added nor removed. */
      pendingSpecs: () => Set<string>;
      onActivity?: (routes: Record<string, Record<string, unknown>>) => void;
    },
  ) {}

  add(r: WantedRoute): Promise<void> {
    if (r.service !== undefined) return this.opts.proxy.addRoute(r.spec, r.target, { service: r.service, jupyterhub: true });
    return this.opts.proxy.addRoute(r.spec, r.target, { user: r.user, server_name: r.server, jupyterhub: true });
  }

  remove(spec: string): Promise<void> {
    return this.opts.proxy.deleteRoute(spec);
  }

  /** PATCH /hub/api/proxy: the proxy API moved or its token changed. */
  reconfigure(o: { apiUrl?: string; authToken?: string }): void {
    this.opts.proxy.reconfigure?.(o);
  }

  /** The proxy API settings in use (empty strings for a proxy client that cannot say). */
  current(): { apiUrl: string; authToken: string } {
    return this.opts.proxy.current ?? { apiUrl: '', authToken: '' };
  }

  list(): Promise<Record<string, Record<string, unknown>>> {
    return this.opts.proxy.getRoutes();
  }

  /** One reconciliation at a time; concurrent callers share the queue. */
  reconcile(): Promise<{ added: number; removed: number }> {
    const run = this.chain.then(() => this.reconcileNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async reconcileNow(): Promise<{ added: number; removed: number }> {
    const { proxy, log, metrics, hubRoute } = this.opts;
    const routes = await proxy.getRoutes();
    this.opts.onActivity?.(routes);
    const good = new Set<string>();
    const tasks: Promise<void>[] = [];
    let added = 0;
    let removed = 0;

    const hubKey = specToKey(hubRoute.spec);
    good.add(hubKey);
    const hubData = routes[hubKey];
    if (!hubData || hubData.target !== hubRoute.target) {
      added++;
      tasks.push(proxy.addRoute(hubRoute.spec, hubRoute.target, { hub: true, jupyterhub: true }));
    }
    for (const w of this.opts.wanted()) {
      const key = specToKey(w.spec);
      good.add(key);
      const have = routes[key];
      if (!have || have.target !== w.target || (have.user === undefined && have.service === undefined)) {
        added++;
        tasks.push(this.add(w));
      }
    }
    for (const spec of this.opts.pendingSpecs()) good.add(specToKey(spec));
    for (const [key, data] of Object.entries(routes)) {
      if (data.jupyterhub && !good.has(key)) {
        removed++;
        tasks.push(proxy.deleteRoute(keyToSpec(key)));
      }
    }
    const results = await Promise.allSettled(tasks);
    for (const r of results) if (r.status === 'rejected') log.warn({ err: String(r.reason), detail: (r.reason as { detail?: string } | null)?.detail }, 'route repair failed');
    if (added) metrics.proxyRouteRepairs.inc({ action: 'add' }, added);
    if (removed) metrics.proxyRouteRepairs.inc({ action: 'delete' }, removed);
    if (added || removed) log.info({ added, removed }, 'proxy routes reconciled');
    return { added, removed };
  }
}
