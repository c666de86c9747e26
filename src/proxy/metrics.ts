/**
 * Prometheus metrics. Label children are bound once so the request path only does an add.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from '../shared/prom.js';
import type { RouteTable } from './routes.js';

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly webRequests;
  readonly wsRequests;
  readonly apiRequests;
  readonly openWebsockets;
  readonly fastPathRequests;
  /**
   * Lean-path requests not yet added to the two counters that count them: a plain increment
   * per request, added when the metrics are read (two prom-client `inc()` calls per request
   * were ~1 % of the lean path's CPU).
   */
  leanRequests = 0;
  private leanCounted = 0;
  private readonly upstreamErrors;
  private readonly errorChildren = new Map<string, { inc: () => void }>();

  constructor(table: RouteTable) {
    const registers = [this.registry];
    const requests = new Counter({
      name: 'atrium_proxy_requests_total',
      help: 'Requests received on the public port, by kind (web, ws) and on the API port (api)',
      labelNames: ['kind'] as const,
      registers,
      collect: () => this.flushLean(),
    });
    this.webRequests = requests.labels('web');
    this.wsRequests = requests.labels('ws');
    this.apiRequests = requests.labels('api');
    this.fastPathRequests = new Counter({
      name: 'atrium_proxy_fast_path_requests_total',
      help: 'Requests on the public port proxied by the lean raw-socket path (plain-HTTP GET/HEAD; also counted in atrium_proxy_requests_total)',
      registers,
      collect: () => this.flushLean(),
    });
    this.upstreamErrors = new Counter({
      name: 'atrium_proxy_errors_total',
      help: 'Requests answered with a proxy error, by status (404 no route, 502, 503, 504)',
      labelNames: ['code'] as const,
      registers,
    });
    this.openWebsockets = new Gauge({
      name: 'atrium_proxy_websockets_open',
      help: 'Websocket (upgrade) connections currently open',
      registers,
    });
    new Gauge({
      name: 'atrium_proxy_routes',
      help: 'Routes in the routing table',
      registers,
      // With --workers every process holds the same table: aggregate as one value, not a sum.
      aggregator: 'max',
      collect() {
        this.set(table.size);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'atrium_proxy_' });
  }

  /** Adds the lean-path requests counted since the last read to both counters. */
  private flushLean(): void {
    const n = this.leanRequests - this.leanCounted;
    if (n <= 0) return;
    this.leanCounted = this.leanRequests;
    this.webRequests.inc(n);
    this.fastPathRequests.inc(n);
  }

  error(code: number): void {
    const key = String(code);
    let child = this.errorChildren.get(key);
    if (!child) {
      child = this.upstreamErrors.labels(key);
      this.errorChildren.set(key, child);
    }
    child.inc();
  }
}
