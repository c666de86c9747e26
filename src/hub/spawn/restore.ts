/**
 * Restore after a hub restart (spawner.ts, "Crash safety", step 5): adopt every server that the
 * database says is running and that still runs; resume pending spawns whose kind can (resume.ts);
 * stop everything else this hub created (rows
 * caught pending or stopping, and backend objects found by the kind's sweep that no adopted row
 * owns). All servers are handled in parallel, and half-started or unowned objects are stopped
 * immediately, so a restore never waits a grace period per server.
 */
import type { SpawnDeps } from './deps.js';
import type { ServerWithUser } from '../db/index.js';
import type { OwnedObject, PollResult, Spawner } from '../../spawners/spawner.js';
import { ActiveServer } from './active.js';
import { oauthClientId, serverPrefix } from './env.js';
import type { Logger } from 'pino';
import type { SpawnUser } from '../../spawners/spawner.js';
import type { UserRow } from '../db/index.js';
import { classifyError } from '../error-classify.js';
import { SpawnError } from '../../spawners/spawner.js';
import { canResume, resumeSpawn, type ResumeTarget } from './resume.js';

/** Backend calls in flight at once during a restore (Docker API, /proc reads, signals). */
const RESTORE_CONCURRENCY = 32;

export interface RestoreResult {
  restored: number;
  /** Rows caught pending whose backend object still waits (a queued Slurm job): the spawn goes on. */
  resumed: number;
  stopped: number;
  /** Live backend objects found by the sweep that no row owned or stopped, now stopped. */
  orphansStopped: number;
  /** Of `ms`, the time the backend sweep took. */
  sweepMs: number;
  ms: number;
}

/** The owner tag of a row's current spawn attempt (what its backend object carries). */
export function ownerTag(instanceId: string, serverId: number, attempt: string): string {
  return `${instanceId}:${serverId}:${attempt}`;
}

/** The parts of the SpawnManager a restore works through. */
export interface RestoreTarget extends ResumeTarget {
  instanceId(): string;
  createSpawner(user: SpawnUser, serverName: string, log: Logger): Spawner;
  spawnUser(user: UserRow): SpawnUser;
}

export async function restoreServers(hub: SpawnDeps, spawns: RestoreTarget): Promise<RestoreResult> {
  const t0 = performance.now();
  const { stores, log } = hub;
  const instanceId = spawns.instanceId();
  const ownerPrefix = `${instanceId}:`;
  const kind = hub.spawnerKind;
  // The sweep first: its view is taken before any stop, and no new spawn can start meanwhile
  // (the gate is closed), so every object it lists predates this hub process.
  let swept: OwnedObject[] = [];
  if (kind.sweep) {
    try {
      swept = await kind.sweep({ options: hub.spawnerOptions, ownerPrefix, log: log.child({ component: 'sweep' }) });
    } catch (err) {
      log.error({ err: String(err) }, 'backend sweep failed; restoring from the database records only');
    }
  }

  const sweepMs = Math.round(performance.now() - t0);
  const adoptedTags = new Set<string>();
  const toStop: { spawner: Spawner; what: string }[] = [];
  let restored = 0;
  let resumed = 0;
  let stopped = 0;
  await mapLimit(stores.servers.active(), RESTORE_CONCURRENCY, async (row: ServerWithUser) => {
    const user = stores.users.getById(row.user_id);
    if (!user) return;
    const slog = log.child({ user: user.name, server: row.name });
    const spawner = spawns.createSpawner(spawns.spawnUser(user), row.name, slog);
    const a = new ActiveServer(user.id, user.name, row.name, row.id, serverPrefix(hub, user.name, row.name), spawner);
    let status: PollResult;
    try {
      spawner.restore(JSON.parse(row.state) as Record<string, unknown>);
      status = await spawner.poll();
    } catch (err) {
      status = { exitStatus: -1, reason: `restore failed: ${String(err)}` };
    }
    if (row.status === 'running' && status === null && row.url) {
      a.phase = 'running';
      a.url = row.url;
      a.attempt = row.spawn_attempt;
      spawns.active.set(a.key, a);
      spawns.schedulePoll(a);
      if (row.spawn_attempt) adoptedTags.add(ownerTag(instanceId, row.id, row.spawn_attempt));
      restored++;
      return;
    }
    // Caught half-way through a spawn whose backend object still waits for its turn: go on.
    if (canResume(a, row, status === null)) {
      resumeSpawn(hub, spawns, a, row, slog);
      if (row.spawn_attempt) adoptedTags.add(ownerTag(instanceId, row.id, row.spawn_attempt));
      resumed++;
      slog.info({ state: row.state }, 'pending spawn resumed after restart');
      return;
    }
    // Died while the hub was down, or caught half-way through a spawn or stop: finish the job.
    if (status === null) {
      try {
        await spawner.stop({ immediate: true });
      } catch (err) {
        slog.warn({ err: String(err) }, 'stop of interrupted server failed');
      }
    }
    spawns.cleanup(a, oauthClientId(user.name, row.name));
    // A spawn whose job ended while the hub was down: the progress stream says why (resume.ts).
    if (row.status === 'pending' && status !== null && row.state !== '{}') {
      spawns.failures.set(a.key, classifyError(new SpawnError(`The spawn was interrupted by a hub restart and its backend is gone: ${status.reason}`)));
    }
    stopped++;
    slog.info({ was: row.status, reason: status?.reason ?? 'interrupted' }, 'server marked stopped at start');
  });

  for (const obj of swept) {
    if (adoptedTags.has(obj.tag)) continue;
    const spawner = spawns.createSpawner({ name: '', admin: false, groups: [] }, '', log.child({ component: 'sweep', tag: obj.tag }));
    spawner.restore(obj.state);
    toStop.push({ spawner, what: `${obj.description} (${obj.tag})` });
  }
  let orphansStopped = 0;
  await mapLimit(toStop, RESTORE_CONCURRENCY, async ({ spawner, what }) => {
    // Already stopped above through its row? poll() says so and stop() is then a no-op.
    const status = await spawner.poll().catch(() => null);
    if (status !== null) return;
    orphansStopped++;
    log.warn({ object: what }, 'stopping a server this hub started but does not own (no running record)');
    await spawner.stop({ immediate: true }).catch((err) => log.error({ err: String(err), object: what }, 'could not stop an orphaned server'));
  });
  hub.metrics.runningServers.set(spawns.runningCount());
  return { restored, resumed, stopped, orphansStopped, sweepMs, ms: Math.round(performance.now() - t0) };
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
