/**
 * The built-in idle culler: every intervalSeconds it looks at each running server and stops the
 * ones idle longer than timeoutSeconds (or older than maxAgeSeconds), then optionally deletes
 * users who have nothing running and have been inactive as long.
 *
 * "Idle" is decided from three sources, newest wins:
 *  - the activity the single-user server reports (POST /hub/api/users/NAME/activity) and the
 *    proxy's per-route last_activity, both recorded on the server row;
 *  - the server's own /api/status, asked with a short-lived token scoped to that one server;
 *  - the server's /api/kernels: a busy kernel or an open kernel connection means "in use now",
 *    whatever the timestamps say. This is what jupyterhub-idle-culler cannot see (its #55: a
 *    long computation with no browser open is culled).
 * A server that cannot be asked is judged on recorded activity alone, as jupyterhub-idle-culler does.
 */
import type { HubContext } from '../context.js';
import type { ActiveServer } from '../spawn/active.js';
import type { UserRow } from '../db/index.js';
import { hashToken, newToken, tokenPrefix } from '../auth/crypto.js';
import { classifyError, logClassified } from '../error-classify.js';
import { CullerMetrics, type CullReason } from './metrics.js';
import { ProbeRefused, probeServer, type ServerBusyness } from './probe.js';

/** Note on the culler's probe tokens; identity.ts does not count their use as the user's activity. */
export const CULLER_TOKEN_NOTE = 'Idle culler probe';
const PROBE_TOKEN_SECONDS = 6 * 3600;
/**
 * Rounds in a row a server may fail to answer the kernel question (timeout, connection refused)
 * before it is judged on recorded activity alone: a kernel saturating the server's CPU can make
 * it slow to answer, and that is exactly the server that must not be culled; a hung server is
 * still culled, a few rounds later.
 */
export const PROBE_FAILURES_BEFORE_FALLBACK = 3;

export interface Verdict {
  user: string;
  server: string;
  outcome: 'active' | 'busy_kernel' | 'open_connection' | 'culled' | 'skipped_admin' | 'no_answer';
  reason?: CullReason;
  idleSeconds: number;
  ageSeconds: number;
}

const ts = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : Number.NaN);

/** Run `fn` over `items`, at most `n` at a time. */
async function pool<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

export class IdleCuller {
  readonly metrics: CullerMetrics;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private closed = false;
  /** Probe token per spawn attempt (a new spawn deletes the server's tokens, so its key changes too). */
  private readonly probeTokens = new Map<string, string>();
  /** Consecutive unanswered kernel questions per spawn attempt. */
  private readonly probeFailures = new Map<string, number>();
  /** Time a server has to answer each kernel question. */
  probeTimeoutMs = 5000;

  constructor(
    private readonly hub: HubContext,
    private readonly opts: { recordProxyActivity?: (routes: Record<string, Record<string, unknown>>) => void } = {},
  ) {
    this.metrics = new CullerMetrics(hub.metrics.registry);
  }

  private get cfg() {
    return this.hub.config.culler;
  }

  start(): void {
    const tick = () => {
      if (this.closed) return;
      // Read at every round, so a SIGHUP reload of intervalSeconds takes effect.
      this.timer = setTimeout(() => void this.runOnce().finally(tick), this.cfg.intervalSeconds * 1000);
      this.timer.unref();
    };
    tick();
    this.hub.log.info({ timeoutSeconds: this.cfg.timeoutSeconds, intervalSeconds: this.cfg.intervalSeconds, maxAgeSeconds: this.cfg.maxAgeSeconds }, 'idle culler on');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One round; rounds never overlap (a second caller shares the running one). */
  runOnce(): Promise<Verdict[]> {
    if (this.running) return this.running as Promise<Verdict[]>;
    const run = this.round().catch((err) => {
      logClassified(this.hub.log, classifyError(err), 'idle culler round failed');
      return [] as Verdict[];
    });
    this.running = run.finally(() => {
      this.running = null;
    });
    return run;
  }

  private async round(): Promise<Verdict[]> {
    const t0 = performance.now();
    const { hub } = this;
    // The proxy's view of activity first, so a server used only through the proxy (no kernel
    // traffic the single-user server would report) is not judged on stale rows.
    try {
      const routes = await hub.routes.list();
      this.opts.recordProxyActivity?.(routes);
    } catch (err) {
      hub.log.warn({ err: String(err) }, 'idle culler: could not read proxy activity; using recorded activity');
    }
    const running = [...hub.spawns.active.values()].filter((a) => a.phase === 'running');
    const verdicts = await pool(running, this.cfg.concurrency, (a) => this.inspect(a));
    for (const v of verdicts) this.metrics.inspected.inc({ outcome: v.outcome });
    const live = new Set(running.map((a) => `${a.serverId}:${a.attempt ?? ''}`));
    for (const k of this.probeFailures.keys()) if (!live.has(k)) this.probeFailures.delete(k);
    this.metrics.lastInspected.set(running.length);
    if (this.cfg.cullUsers) await this.cullUsers();
    this.metrics.checkDuration.observe((performance.now() - t0) / 1000);
    return verdicts;
  }

  private async inspect(a: ActiveServer): Promise<Verdict> {
    const { hub, cfg } = this;
    const row = hub.stores.servers.getById(a.serverId);
    const user = hub.stores.users.getById(a.userId);
    const nowMs = Date.now();
    const started = ts(row?.started);
    const ageSeconds = Number.isNaN(started) ? 0 : (nowMs - started) / 1000;
    let last = ts(row?.last_activity);
    if (Number.isNaN(last)) last = started;
    const base: Omit<Verdict, 'outcome' | 'idleSeconds'> = { user: a.userName, server: a.serverName, ageSeconds: Math.round(ageSeconds) };
    const idle = () => Math.max(0, Math.round((nowMs - last) / 1000));
    if (!row || !user) return { ...base, outcome: 'active', idleSeconds: 0 };
    if (user.admin && !cfg.cullAdminUsers) return { ...base, outcome: 'skipped_admin', idleSeconds: idle() };

    if (cfg.maxAgeSeconds > 0 && ageSeconds > cfg.maxAgeSeconds) {
      return this.cull(a, user, { ...base, outcome: 'culled', reason: 'max_age', idleSeconds: idle() });
    }
    // Only a server that looks idle on the record is asked; most rounds ask nobody.
    if (Number.isNaN(last) || nowMs - last <= cfg.timeoutSeconds * 1000) return { ...base, outcome: 'active', idleSeconds: idle() };
    if (cfg.inspectKernels && a.url) {
      let b: ServerBusyness | null = null;
      const key = `${a.serverId}:${a.attempt ?? ''}`;
      try {
        b = await probeServer(`${a.url}${a.prefix}`, this.probeToken(a), this.probeTimeoutMs);
        this.probeFailures.delete(key);
      } catch (err) {
        if (err instanceof ProbeRefused) {
          hub.log.info({ user: a.userName, server: a.serverName, err: err.message }, 'idle culler: the server has no kernel list for the hub; judging on recorded activity');
        } else {
          const n = (this.probeFailures.get(key) ?? 0) + 1;
          this.probeFailures.set(key, n);
          hub.log.info({ user: a.userName, server: a.serverName, err: String(err), failures: n }, 'idle culler: the server did not answer the kernel question');
          if (n < PROBE_FAILURES_BEFORE_FALLBACK) return { ...base, outcome: 'no_answer', idleSeconds: idle() };
        }
      }
      if (b) {
        if (b.busyKernels > 0) return { ...base, outcome: 'busy_kernel', idleSeconds: idle() };
        if (b.connections > 0) return { ...base, outcome: 'open_connection', idleSeconds: idle() };
        const own = ts(b.lastActivity);
        if (!Number.isNaN(own) && own > last) last = own;
        if (nowMs - last <= cfg.timeoutSeconds * 1000) return { ...base, outcome: 'active', idleSeconds: idle() };
      }
    }
    return this.cull(a, user, { ...base, outcome: 'culled', reason: 'idle', idleSeconds: idle() });
  }

  /** A token only for this server (access:servers!server=USER/NAME), owned by its user. */
  private probeToken(a: ActiveServer): string {
    const key = `${a.serverId}:${a.attempt ?? ''}`;
    let t = this.probeTokens.get(key);
    if (t) return t;
    for (const k of this.probeTokens.keys()) if (k.startsWith(`${a.serverId}:`)) this.probeTokens.delete(k);
    t = newToken();
    this.hub.stores.tokens.insert({
      userId: a.userId,
      prefix: tokenPrefix(t),
      hashed: hashToken(t),
      scopes: [`access:servers!server=${a.userName}/${a.serverName}`],
      note: CULLER_TOKEN_NOTE,
      // Tied to the server: stopping it deletes the token (tokens.deleteForServer).
      serverId: a.serverId,
      expiresAt: new Date(Date.now() + PROBE_TOKEN_SECONDS * 1000).toISOString(),
    });
    this.probeTokens.set(key, t);
    // Expires well before the token does, so a long-running server gets a fresh one.
    setTimeout(() => this.probeTokens.delete(key), (PROBE_TOKEN_SECONDS - 600) * 1000).unref();
    return t;
  }

  private async cull(a: ActiveServer, user: UserRow, v: Verdict): Promise<Verdict> {
    const { hub } = this;
    const remove = a.serverName !== '' && this.cfg.removeNamedServers;
    hub.log.info(
      { user: a.userName, server: a.serverName, reason: v.reason, idleSeconds: v.idleSeconds, ageSeconds: v.ageSeconds, remove },
      v.reason === 'max_age' ? 'idle culler: stopping a server older than maxAgeSeconds' : 'idle culler: stopping an idle server',
    );
    this.probeFailures.delete(`${a.serverId}:${a.attempt ?? ''}`);
    try {
      await hub.spawns.stop(user, a.serverName);
      await hub.spawns.get(a.userName, a.serverName)?.done;
      if (remove && !hub.spawns.get(a.userName, a.serverName)) hub.stores.servers.delete(a.serverId);
      this.metrics.culled.inc({ kind: 'server', reason: v.reason ?? 'idle' });
      return v;
    } catch (err) {
      this.metrics.cullFailures.inc({ kind: 'server' });
      logClassified(hub.log, classifyError(err), 'idle culler: stop failed', { user: a.userName, server: a.serverName });
      return { ...v, outcome: 'active' };
    }
  }

  /** Users with nothing active and no activity (or creation) within the timeout are deleted. */
  private async cullUsers(): Promise<void> {
    const { hub, cfg } = this;
    const cutoff = Date.now() - cfg.timeoutSeconds * 1000;
    const busy = new Set([...hub.spawns.active.values()].map((a) => a.userId));
    for (const u of hub.stores.users.list()) {
      if (busy.has(u.id) || (u.admin && !cfg.cullAdminUsers)) continue;
      const last = ts(u.last_activity ?? u.created);
      if (Number.isNaN(last) || last > cutoff) continue;
      try {
        hub.stores.users.delete(u.id);
        this.metrics.culled.inc({ kind: 'user', reason: 'inactive_user' });
        hub.log.info({ user: u.name, idleSeconds: Math.round((Date.now() - last) / 1000), reason: 'inactive_user' }, 'idle culler: deleted an inactive user');
      } catch (err) {
        this.metrics.cullFailures.inc({ kind: 'user' });
        logClassified(hub.log, classifyError(err), 'idle culler: user delete failed', { user: u.name });
      }
    }
  }
}
