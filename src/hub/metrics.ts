/** Prometheus metrics of the hub, served at /hub/metrics. One registry per hub instance. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from '../shared/prom.js';

export class Metrics {
  readonly registry = new Registry();
  readonly spawnDuration = new Histogram({
    name: 'atrium_spawn_duration_seconds',
    help: 'Time from spawn request to the server answering HTTP, by outcome',
    labelNames: ['status'] as const,
    buckets: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly spawnFailures = new Counter({
    name: 'atrium_spawn_failures_total',
    help: 'Failed spawns by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly runningServers = new Gauge({
    name: 'atrium_running_servers',
    help: 'Servers that are running',
    registers: [this.registry],
  });
  readonly pendingSpawns = new Gauge({
    name: 'atrium_pending_spawns',
    help: 'Spawns in progress',
    registers: [this.registry],
  });
  readonly startQueueLength = new Gauge({
    name: 'atrium_start_queue_length',
    help: 'Server starts waiting in the start queue for a slot',
    registers: [this.registry],
  });
  readonly startQueueWait = new Histogram({
    name: 'atrium_start_queue_wait_seconds',
    help: 'Time a server start waited in the start queue before it got a slot',
    buckets: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
    registers: [this.registry],
  });
  readonly logins = new Counter({
    name: 'atrium_logins_total',
    help: 'Login attempts by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly apiLatency = new Histogram({
    name: 'atrium_api_request_duration_seconds',
    help: 'Hub request latency by method, route and status code',
    labelNames: ['method', 'route', 'code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly proxyRouteRepairs = new Counter({
    name: 'atrium_proxy_route_repairs_total',
    help: 'Routes added or removed by reconciliation with the database',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'atrium_hub_' });
  }
}
