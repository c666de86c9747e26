/**
 * The server-name gate every route passes before acting on a named server (API and pages).
 * New names must follow the one rule in src/shared/names.ts; a database row created before the
 * rule may still be stopped, watched or deleted, so nobody is left with a server they cannot
 * remove, but never started again under its old name.
 */
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { atriumError } from '../errors.js';
import { isValidServerName, SERVER_NAME_RULE } from '../../shared/names.js';

export type ServerAction = 'start' | 'stop' | 'view';

export function checkServerNameFor(hub: HubContext, user: UserRow, server: string, action: ServerAction): void {
  if (server === '') return;
  if (!hub.config.spawner.namedServers.enabled) throw atriumError('ATRIUM_ERR_SERVER_NAMED_DISABLED');
  if (isValidServerName(server)) return;
  if (action !== 'start' && hub.stores.servers.get(user.id, server)) return;
  throw atriumError('ATRIUM_ERR_SERVER_BAD_NAME', `Invalid server name ${JSON.stringify(server.slice(0, 40))}. ${SERVER_NAME_RULE}`);
}
