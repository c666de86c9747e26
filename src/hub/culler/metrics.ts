/** Prometheus metrics of the idle culler, registered in the hub's registry (served at /hub/metrics). */
import { Counter, Gauge, Histogram, type Registry } from '../../shared/prom.js';

export type CullReason = 'idle' | 'max_age' | 'inactive_user';

export class CullerMetrics {
  readonly culled: Counter<'kind' | 'reason'>;
  readonly checkDuration: Histogram<string>;
  readonly inspected: Counter<'outcome'>;
  readonly lastInspected: Gauge<string>;
  readonly cullFailures: Counter<'kind'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.culled = new Counter({
      name: 'atrium_culler_culled_total',
      help: 'Servers stopped and users deleted by the idle culler, by kind (server, user) and reason (idle, max_age, inactive_user)',
      labelNames: ['kind', 'reason'] as const,
      registers,
    });
    this.checkDuration = new Histogram({
      name: 'atrium_culler_check_duration_seconds',
      help: 'Duration of one culler round (inspect every running server, cull what is due)',
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.inspected = new Counter({
      name: 'atrium_culler_servers_inspected_total',
      help: 'Running servers the culler looked at, by outcome (active, busy_kernel, open_connection, no_answer, culled, skipped_admin)',
      labelNames: ['outcome'] as const,
      registers,
    });
    this.lastInspected = new Gauge({
      name: 'atrium_culler_servers_inspected',
      help: 'Running servers inspected in the last culler round',
      registers,
    });
    this.cullFailures = new Counter({
      name: 'atrium_culler_failures_total',
      help: 'Culls that failed (the server or user is tried again next round), by kind',
      labelNames: ['kind'] as const,
      registers,
    });
  }
}
