/** The named-server limit and the message that says how to get under it (spawn manager and pages). */
import type { UserRow } from '../db/index.js';
import type { SpawnDeps } from './deps.js';
import { atriumError } from '../errors.js';

// SpawnDeps, not HubContext: the spawn manager calls this, and the context imports the manager.
type LimitDeps = Pick<SpawnDeps, 'config' | 'stores'>;

/**
 * Like JupyterHub, every named server the user has (running or stopped) counts toward the limit:
 * a stopped server keeps its options and activity and can be started again. What keeps a user from
 * being stuck is that delete is always offered (home page, admin page, API), and the message says so.
 */
export function namedLimit(hub: LimitDeps, user: UserRow): { used: number; limit: number; full: boolean } {
  const limit = hub.config.spawner.namedServers.limitPerUser;
  const used = hub.stores.servers.countNamed(user.id);
  return { used, limit, full: limit > 0 && used >= limit };
}

export function namedLimitMessage(used: number, limit: number): string {
  return `You have ${used} named server${used === 1 ? '' : 's'} and the limit is ${limit}. ` +
    'Delete one on your home page (stopped servers count too) to create another.';
}

/** Throws ATRIUM_ERR_SERVER_NAMED_LIMIT when `server` would be a new named server over the limit. */
export function checkNamedLimit(hub: LimitDeps, user: UserRow, server: string): void {
  if (!server || hub.stores.servers.get(user.id, server)) return;
  const { used, limit, full } = namedLimit(hub, user);
  if (full) throw atriumError('ATRIUM_ERR_SERVER_NAMED_LIMIT', namedLimitMessage(used, limit));
}
