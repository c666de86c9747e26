/**
 * prom-client's classes, each loaded from its own file. Its index also loads the Pushgateway
 * client, which pulls node's https, tls and zlib into every hub and proxy start although Atrium
 * never pushes metrics (~10 ms of a hub restart, CPU profile in bench/burst/RESULTS.md). The
 * types are prom-client's own (prom-lib.d.ts maps each file to its class).
 */
import CounterImpl from 'prom-client/lib/counter.js';
import GaugeImpl from 'prom-client/lib/gauge.js';
import HistogramImpl from 'prom-client/lib/histogram.js';
import RegistryImpl from 'prom-client/lib/registry.js';
import defaultMetrics from 'prom-client/lib/defaultMetrics.js';

export const Counter = CounterImpl;
export type Counter<T extends string = string> = CounterImpl<T>;
export const Gauge = GaugeImpl;
export type Gauge<T extends string = string> = GaugeImpl<T>;
export const Histogram = HistogramImpl;
export type Histogram<T extends string = string> = HistogramImpl<T>;
export const Registry = RegistryImpl;
export type Registry = RegistryImpl;
export const collectDefaultMetrics = defaultMetrics;
