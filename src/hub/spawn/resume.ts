/**
 * Resume a pending spawn after a hub restart (issue 11). A Slurm job may sit in the queue for
 * hours; a hub restarted meanwhile used to cancel it at restore, so the user lost their place in
 * the queue. When the row was `pending`, a backend handle was recorded and the kind can `resume()`
 * (spawner.ts), the restore adopts the spawn instead: the server's token and OAuth client stay
 * (the job carries the token and reports its port with it), the spawn-pending page shows progress
 * again, and once the job reports, the hub finishes as a fresh spawn would — readiness wait, proxy
 * route, `running`. A job that is gone fails the spawn with its reason, cleaned up as any failure.
 *
 * The start timeout keeps counting from the original request (`servers.started`), so a restart
 * never extends how long a user waits; a spawn already past it gets a short grace to learn
 * whether its job reported while the hub was down.
 */
import type { Logger } from 'pino';
import type { SpawnDeps } from './deps.js';
import type { ActiveServer } from './active.js';
import type { ServerRow } from '../db/index.js';
import { atriumError } from '../errors.js';
import { classifyError, logClassified, spawnFailureText, type ClassifiedError } from '../error-classify.js';
import { oauthClientId } from './env.js';
import { waitUp } from './wait-up.js';

/** The least time a resumed spawn gets, even when the original start timeout has run out. */
const RESUME_GRACE_MS = 15_000;

/** The parts of the SpawnManager a resumed spawn works through. */
export interface ResumeTarget {
  readonly active: Map<string, ActiveServer>;
  readonly failures: Map<string, ClassifiedError>;
  schedulePoll(a: ActiveServer): void;
  goLive(a: ActiveServer, url: string): Promise<void>;
  cleanup(a: ActiveServer, clientId: string): void;
  runningCount(): number;
  pendingCount(): number;
}

/** True when the restore should hand this row to resumeSpawn() rather than stop it. */
export function canResume(a: ActiveServer, row: ServerRow, stillThere: boolean): boolean {
  return row.status === 'pending' && stillThere && typeof a.spawner?.resume === 'function' && row.state !== '{}';
}

/**
 * Adopt `a` (phase 'spawn') and carry its start on in the background; resolves once the spawner's
 * resume() has been called, so a port report that arrives right after the restore finds it.
 */
export function resumeSpawn(hub: SpawnDeps, target: ResumeTarget, a: ActiveServer, row: ServerRow, slog: Logger): void {
  a.phase = 'spawn';
  a.attempt = row.spawn_attempt;
  target.active.set(a.key, a);
  a.emit({ progress: 0, message: 'Server requested (before a hub restart)' });
  const started = row.started ? Date.parse(row.started) : Date.now();
  const left = hub.config.spawner.startTimeoutSeconds * 1000 - (Date.now() - (Number.isFinite(started) ? started : Date.now()));
  const timer = setTimeout(() => a.abort.abort(new Error('start timeout')), Math.max(left, RESUME_GRACE_MS));
  timer.unref();
  const spawner = a.spawner!;
  // Called synchronously here: resume() arms the report before its first await.
  const resumed = spawner.resume!({
    log: slog,
    signal: a.abort.signal,
    recordHandle: (state) => void hub.stores.servers.recordHandle(a.serverId, a.attempt!, JSON.stringify(state)),
  });
  a.done = finish(hub, target, a, resumed, slog).finally(() => clearTimeout(timer));
  hub.metrics.pendingSpawns.set(target.pendingCount());
}

async function finish(hub: SpawnDeps, target: ResumeTarget, a: ActiveServer, resumed: Promise<{ url: string }>, slog: Logger): Promise<void> {
  const { stores, config, metrics } = hub;
  let stage = 'resume';
  const pump = pumpProgress(a);
  try {
    const timedOut = new Promise<never>((_, reject) =>
      a.abort.signal.addEventListener('abort', () => reject(atriumError('ATRIUM_ERR_SPAWN_TIMEOUT', `Server did not start within ${config.spawner.startTimeoutSeconds} seconds`)), { once: true }),
    );
    // A rejection of the loser must not go unhandled.
    timedOut.catch(() => undefined);
    const { url: raw } = await Promise.race([resumed, timedOut]);
    const url = raw.replace(/\/+$/, '');
    a.url = url;
    stores.servers.update(a.serverId, { url, state: JSON.stringify(a.spawner!.state()) });
    stage = 'http';
    a.emit({ progress: 90, message: 'Server started; waiting for it to answer' });
    const up = await waitUp(`${url}${a.prefix}`, config.spawner.httpTimeoutSeconds * 1000, a.abort.signal);
    if (!up.ok) throw atriumError('ATRIUM_ERR_SPAWN_HTTP_TIMEOUT', `Server did not answer at ${url}${a.prefix} within ${config.spawner.httpTimeoutSeconds} seconds`, { detail: up.detail });
    stage = 'proxy';
    await target.goLive(a, url);
    slog.info({ url }, 'resumed spawn ready');
  } catch (err) {
    const failure = classifyError(err, { unexpected: 'ATRIUM_ERR_SPAWN_INTERNAL', storage: stores.health });
    logClassified(slog, failure, 'resumed spawn failed', { stage });
    metrics.spawnFailures.inc({ reason: stage });
    target.failures.set(a.key, failure);
    a.emit({ progress: 100, failed: true, message: spawnFailureText(failure) });
    a.abort.abort(new Error('spawn failed'));
    await a.spawner?.stop().catch((e) => slog.warn({ err: String(e) }, 'cleanup after failed resumed spawn: stop failed'));
    target.cleanup(a, oauthClientId(a.userName, a.serverName));
    target.active.delete(a.key);
  } finally {
    a.finishEvents();
    void pump;
    metrics.pendingSpawns.set(target.pendingCount());
    metrics.runningServers.set(target.runningCount());
  }
}

/** The spawner's progress onto the server's event stream while the resumed spawn waits. */
async function pumpProgress(a: ActiveServer): Promise<void> {
  const sp = a.spawner;
  if (!sp?.progress) return;
  try {
    for await (const e of sp.progress()) {
      if (a.phase !== 'spawn') break;
      a.emit({ progress: Math.min(e.progress, 89), message: e.message, htmlMessage: e.htmlMessage });
    }
  } catch {
    // The progress stream is advisory: a spawn never fails because of it.
  }
}
