/**
 * Asks a running single-user server itself whether it is busy: GET /api/kernels and /api/status
 * (Jupyter Server and classic notebook both serve them), straight to the server's own URL, not
 * through the proxy, so the question is not itself traffic. `no_track_activity=1` keeps the
 * server from counting the question as API activity (notebook's APIHandler honours it), so a
 * probe never makes an idle server look used.
 */
import { httpCall } from '../http-call.js';

export interface ServerBusyness {
  /** Some kernel is executing (execution_state "busy" or "starting"). */
  busyKernels: number;
  /** Kernel websocket connections (a browser tab, a VS Code client). */
  connections: number;
  kernels: number;
  /** The server's own last_activity (ISO), from /api/status; null when it did not say. */
  lastActivity: string | null;
}

interface KernelModel {
  execution_state?: unknown;
  connections?: unknown;
  last_activity?: unknown;
}

/**
 * The server answered, but not with a kernel list (404: no kernels API; 401/403: it does not
 * take the token). Permanent for this server: the culler judges it on recorded activity alone.
 * Anything else (a timeout, a refused connection) may be a server too busy to answer.
 */
export class ProbeRefused extends Error {
  constructor(readonly url: string, readonly status: number) {
    super(`${url} answered ${status}`);
    this.name = 'ProbeRefused';
  }
}

async function getJson(url: string, token: string, timeoutMs: number): Promise<unknown> {
  const res = await httpCall(url, { headers: { Authorization: `token ${token}`, Accept: 'application/json' }, timeoutMs, maxBytes: 16 * 1024 * 1024 });
  if (res.status !== 200) throw new ProbeRefused(url.replace(/\?.*$/, ''), res.status);
  return JSON.parse(res.text) as unknown;
}

const isoOrNull = (v: unknown): string | null => {
  if (typeof v !== 'string') return null;
  const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : v + 'Z');
  return Number.isNaN(t) ? null : new Date(t).toISOString();
};

/**
 * `base` is the server's URL including its prefix (http://127.0.0.1:PORT/user/alice/). Throws when
 * the server does not answer or refuses the token; the caller then decides on recorded activity.
 */
export async function probeServer(base: string, token: string, timeoutMs = 5000): Promise<ServerBusyness> {
  const root = base.endsWith('/') ? base : base + '/';
  const [kernels, status] = await Promise.all([
    getJson(`${root}api/kernels?no_track_activity=1`, token, timeoutMs),
    getJson(`${root}api/status?no_track_activity=1`, token, timeoutMs).catch(() => null),
  ]);
  if (!Array.isArray(kernels)) throw new Error('/api/kernels did not answer a list');
  let busyKernels = 0;
  let connections = 0;
  let latest: string | null = null;
  for (const k of kernels as KernelModel[]) {
    if (k.execution_state === 'busy' || k.execution_state === 'starting') busyKernels++;
    if (typeof k.connections === 'number') connections += k.connections;
    const la = isoOrNull(k.last_activity);
    if (la && (!latest || la > latest)) latest = la;
  }
  const st = (status ?? {}) as { last_activity?: unknown };
  const statusActivity = isoOrNull(st.last_activity);
  if (statusActivity && (!latest || statusActivity > latest)) latest = statusActivity;
  return { busyKernels, connections, kernels: kernels.length, lastActivity: latest };
}
