/**
 * The end of a named server's life and the rules around it, shared by the API, the home page and
 * the admin page so all three behave the same: the named-server limit (and the message that says
 * how to get under it), display names, deleting a server and deleting a user.
 */
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { atriumError } from '../errors.js';

export { checkNamedLimit, namedLimit, namedLimitMessage } from './named-limit.js';

export const DISPLAY_NAME_MAX = 60;

/** A display name is free text for people, never part of a URL: trimmed, bounded, no control characters. */
export function checkedDisplayName(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'display_name must be a string');
  const s = v.trim();
  if (s === '') return null;
  if (s.length > DISPLAY_NAME_MAX) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `A display name is at most ${DISPLAY_NAME_MAX} characters`);
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(s)) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'A display name may not contain control characters');
  return s;
}

/**
 * Stop the server if it runs, then forget it: its row, OAuth client and tokens go (ON DELETE
 * CASCADE). Files in the user's home stay: they belong to the user, not to the server.
 */
export async function removeNamedServer(hub: HubContext, user: UserRow, server: string): Promise<void> {
  if (!server) throw atriumError('ATRIUM_ERR_SERVER_DEFAULT_REMOVE');
  const row = hub.stores.servers.get(user.id, server);
  if (!row) throw atriumError('ATRIUM_ERR_SERVER_NOT_FOUND', `${user.name} has no server named '${server}'`);
  const a = hub.spawns.get(user.name, server);
  if (a?.phase === 'spawn') throw atriumError('ATRIUM_ERR_SERVER_PENDING', `${user.name}/${server} is starting; stop it or wait, then delete it`);
  if (a) {
    await hub.spawns.stop(user, server);
    await hub.spawns.get(user.name, server)?.done;
  }
  hub.spawns.failures.delete(`${user.name}/${server}`);
  hub.stores.servers.delete(row.id);
}

/** Stop every server of the user (a pending spawn refuses: the admin retries), then delete them. */
export async function removeUser(hub: HubContext, user: UserRow): Promise<void> {
  for (const s of hub.stores.servers.ofUser(user.id)) {
    const a = hub.spawns.get(user.name, s.name);
    if (a?.phase === 'spawn') throw atriumError('ATRIUM_ERR_SERVER_PENDING', `${user.name} has a pending spawn; try again when it is over`);
  }
  for (const s of hub.stores.servers.ofUser(user.id)) {
    const a = hub.spawns.get(user.name, s.name);
    if (!a) continue;
    await hub.spawns.stop(user, s.name);
    await hub.spawns.get(user.name, s.name)?.done;
    hub.spawns.failures.delete(`${user.name}/${s.name}`);
  }
  hub.stores.users.delete(user.id);
}

/** Rename a user; the new name must be free (400, as JupyterHub) and no server may be active. */
export function renameUser(hub: HubContext, user: UserRow, newName: string): void {
  if (newName === user.name) return;
  if (hub.stores.users.get(newName)) throw atriumError('ATRIUM_ERR_USER_NAME_TAKEN', `User ${newName} already exists, username must be unique`);
  if (hub.stores.servers.ofUser(user.id).some((s) => hub.spawns.get(user.name, s.name))) {
    throw atriumError('ATRIUM_ERR_SERVER_RUNNING', `Stop ${user.name}'s servers before renaming them`);
  }
  hub.stores.users.rename(user.id, newName);
}
