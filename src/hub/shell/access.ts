/**
 * Who may open a shell into which server. A shell runs commands as the server's owner, so it is
 * held to more than `access:servers`: the `shell` scope, which a logged-in user holds for their
 * own servers and which the admin role does NOT carry; `shell.adminsOpenAnyServer` grants it to
 * admins unfiltered. It is derived from the session here, not part of `self` or of any token:
 * tokens never open shells, and a scope in `self` would stop admins from creating tokens for
 * users (a token's scopes must be held by whoever creates it). See docs/decisions/0013.
 */
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import type { ActiveServer } from '../spawn/active.js';
import type { Spawner } from '../../spawners/spawner.js';
import { groupsResolver } from '../auth/identity.js';
import { checkScopes } from '../auth/scopes.js';
import { atriumError } from '../errors.js';
import { isValidServerName } from '../../shared/names.js';

export const SHELL_SCOPE = 'shell';

export function shellScopes(hub: HubContext, me: UserRow): Set<string> {
  const held = new Set([`${SHELL_SCOPE}!user=${me.name}`]);
  if (me.admin && hub.config.shell.adminsOpenAnyServer) held.add(SHELL_SCOPE);
  return held;
}

export interface ShellTarget {
  owner: UserRow;
  server: string;
  active: ActiveServer;
  spawner: Spawner & Required<Pick<Spawner, 'shell'>>;
}

/**
 * The running server `me` may open a shell into, or a catalogued error: 404 when shells are off
 * or `me` may not see that user's servers (names do not leak), 403 without the scope at all,
 * 409 when the server is not running or its spawner has no shell.
 */
export function shellTarget(hub: HubContext, me: UserRow, ownerName: string, server: string): ShellTarget {
  if (!hub.config.shell.enabled) throw atriumError('ATRIUM_ERR_SHELL_DISABLED');
  const verdict = checkScopes(shellScopes(hub, me), [SHELL_SCOPE], { server: `${ownerName}/${server}` }, groupsResolver(hub));
  if (verdict === 'forbidden') throw atriumError('ATRIUM_ERR_AUTH_SCOPE', 'Opening a shell needs the shell scope on this server');
  if (verdict !== 'ok') throw atriumError('ATRIUM_ERR_AUTH_NO_ACCESS');
  const owner = hub.stores.users.get(ownerName);
  if (!owner) throw atriumError('ATRIUM_ERR_AUTH_NO_ACCESS');
  if (server !== '' && !isValidServerName(server)) throw atriumError('ATRIUM_ERR_SERVER_BAD_NAME');
  const active = hub.spawns.get(owner.name, server);
  if (!active || active.phase !== 'running' || !active.spawner) throw atriumError('ATRIUM_ERR_SHELL_NOT_RUNNING');
  const spawner = active.spawner;
  if (typeof spawner.shell !== 'function') throw atriumError('ATRIUM_ERR_SHELL_UNSUPPORTED');
  return { owner, server, active, spawner: spawner as ShellTarget['spawner'] };
}
