/**
 * SIGHUP: reload atrium.yaml without a restart. The file goes through the same loader as at
 * start; a file with problems is refused as a whole (every problem logged) and the running config
 * stays. Config stays "validated once, frozen, passed in": the hub swaps `hub.config` for a new
 * frozen object, which every collaborator reads at the moment it decides something (the login
 * pipeline, spawn limits, the spawn form), never mutating the old one.
 *
 * Only keys that are read per decision are taken from the new file; every other change is
 * listed as needing a restart and the running value is kept, so the running hub never runs on a
 * half-applied setting (a new listen port, a new Swarm hubId, a new authenticator kind).
 */
import type { HubContext } from './context.js';
import type { AtriumConfig } from './config/schema.js';
import { formatProblem, isConfigError, loadConfig } from './config/loader.js';
import { checkedUsername } from './auth/pipeline.js';
import type { KindDescriptor } from '../shared/kind.js';
import { spawnerKinds } from '../spawners/kinds.js';
import { authenticatorKinds } from '../authenticators/kinds.js';

/** Key paths taken from a reloaded file; a path covers everything under it. */
export const RELOADABLE_KEYS: readonly string[] = [
  'logLevel',
  // Who may log in, who is admin.
  'authenticator.allowedUsers',
  'authenticator.blockedUsers',
  'authenticator.adminUsers',
  'authenticator.allowedGroups',
  'authenticator.adminGroups',
  'authenticator.allowAll',
  // Spawn limits and timeouts, read at each spawn.
  'spawner.concurrentSpawnLimit',
  'spawner.activeServerLimit',
  'spawner.namedServers.limitPerUser',
  'spawner.startTimeoutSeconds',
  'spawner.httpTimeoutSeconds',
  'spawner.slowSpawnTimeoutSeconds',
  // The idle culler reads its settings at every round (turning it on or off needs a restart).
  ...['timeoutSeconds', 'intervalSeconds', 'maxAgeSeconds', 'removeNamedServers', 'cullUsers', 'cullAdminUsers', 'inspectKernels', 'concurrency'].map((k) => `culler.${k}`),
  // Start slots: the queue is resized at the next spawn (start-queue.ts).
  'spawner.startQueue',
  // Each kind's own (its spawn form and limits), from its descriptor.
  ...spawnerKinds.kinds.flatMap((k: KindDescriptor) => (k.reloadableKeys ?? []).map((key) => `spawner.${k.name}.${key}`)),
  ...authenticatorKinds.kinds.flatMap((k: KindDescriptor) => (k.reloadableKeys ?? []).map((key) => `authenticator.${k.name}.${key}`)),
];

export interface ReloadOutcome {
  ok: boolean;
  applied: string[];
  needsRestart: string[];
}

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Dotted paths of every leaf that differs (arrays compare as one value). */
export function changedPaths(a: unknown, b: unknown, prefix = ''): string[] {
  if (isTree(a) && isTree(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].sort().flatMap((k) => changedPaths(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

const reloadableKey = (path: string) => RELOADABLE_KEYS.find((k) => path === k || path.startsWith(`${k}.`));

function freeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) freeze(x);
    Object.freeze(v);
  }
  return v;
}

/** `running` with the reloadable keys listed in `keys` taken from `loaded`, as a new frozen object. */
function compose(running: AtriumConfig, loaded: AtriumConfig, keys: string[]): AtriumConfig {
  const next = structuredClone(running) as unknown as Tree;
  for (const key of keys) {
    const segments = key.split('.');
    let from: unknown = loaded;
    for (const s of segments) from = isTree(from) ? from[s] : undefined;
    let to = next;
    for (const s of segments.slice(0, -1)) to = to[s] as Tree;
    const last = segments[segments.length - 1]!;
    if (from === undefined) delete to[last];
    else to[last] = structuredClone(from);
  }
  return freeze(next) as unknown as AtriumConfig;
}

export function reloadConfig(hub: HubContext, file: string): ReloadOutcome {
  const log = hub.log.child({ component: 'reload' });
  let loaded: AtriumConfig;
  try {
    loaded = loadConfig(file);
  } catch (err) {
    if (!isConfigError(err)) throw err;
    log.error(
      { file, problems: err.problems.map((p) => formatProblem(file, p)) },
      'config reload refused: the file has problems; the running config is kept',
    );
    return { ok: false, applied: [], needsRestart: [] };
  }
  const changed = changedPaths(hub.config, loaded);
  const applied = changed.filter((p) => reloadableKey(p));
  const needsRestart = changed.filter((p) => !reloadableKey(p));
  const keys = [...new Set(applied.map((p) => reloadableKey(p)!))];
  const next = compose(hub.config, loaded, keys);
  hub.config = next;
  const kind = next.spawner.kind;
  hub.spawnerOptions = next.spawner[kind];
  hub.log.level = next.logLevel;
  ensureListedUsers(hub, log, keys);
  log.info({ file, applied, needsRestart }, applied.length || needsRestart.length ? 'config reloaded' : 'config reloaded: no changes');
  if (needsRestart.length) log.warn({ needsRestart }, 'some changed keys take effect only after a hub restart');
  return { ok: true, applied, needsRestart };
}

/** As at start: users named in the config exist, admins get their flag. */
function ensureListedUsers(hub: HubContext, log: HubContext['log'], keys: string[]): void {
  if (!keys.includes('authenticator.adminUsers') && !keys.includes('authenticator.allowedUsers')) return;
  const { users } = hub.stores;
  try {
    for (const raw of hub.config.authenticator.adminUsers) users.setAdmin(users.ensure(checkedUsername(hub, raw)).user.id, true);
    for (const raw of hub.config.authenticator.allowedUsers) users.ensure(checkedUsername(hub, raw));
  } catch (err) {
    // The lists are applied for logins either way; the rows follow at the next login or reload.
    log.warn({ err: String(err) }, 'could not record the users listed in the reloaded config');
  }
}
