/**
 * The login pipeline the hub owns around every authenticator (contracts §6.1):
 * normalise → validate → blocked → allowed → admin → create/update the user → store auth state.
 */
import type { AuthResult } from '../../authenticators/authenticator.js';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { atriumError } from '../errors.js';
import { userNameProblem } from '../../shared/names.js';
import { explainBadUsername } from './name-explain.js';

export function normalizeUsername(hub: HubContext, raw: string): string {
  const map = hub.config.authenticator.usernameMap;
  const mapped = map[raw] ?? map[raw.toLowerCase()];
  return (mapped ?? raw).normalize('NFC').toLowerCase();
}

/** Returns the reason a name is invalid, or null. */
export function invalidUsername(hub: HubContext, name: string): string | null {
  const structural = userNameProblem(name);
  if (structural) return structural;
  if (!new RegExp(hub.config.authenticator.usernamePattern, 'u').test(name)) {
    return `user name does not match the allowed pattern ${hub.config.authenticator.usernamePattern}`;
  }
  return null;
}

export function checkedUsername(hub: HubContext, raw: string): string {
  const name = normalizeUsername(hub, raw);
  const why = invalidUsername(hub, name);
  if (why) throw atriumError('ATRIUM_ERR_AUTH_BAD_NAME', `Invalid username: ${why}`);
  return name;
}

function isAllowed(hub: HubContext, name: string, groups: string[]): boolean {
  const a = hub.config.authenticator;
  if (a.allowedUsers.map((u) => normalizeUsername(hub, u)).includes(name)) return true;
  if (groups.some((g) => a.allowedGroups.includes(g))) return true;
  if (a.allowedUsers.length === 0 && a.allowedGroups.length === 0) return a.allowAll;
  // Users created by an admin (API or admin page) stay allowed, as in JupyterHub.
  return a.allowedUsers.length > 0 && hub.stores.users.get(name) !== undefined;
}

export function completeLogin(hub: HubContext, result: AuthResult): UserRow {
  const a = hub.config.authenticator;
  const name = normalizeUsername(hub, result.name);
  const why = invalidUsername(hub, name);
  if (why) {
    hub.log.info({ reason: why }, 'login refused: invalid user name');
    hub.metrics.logins.inc({ result: 'invalid' });
    // Say why and what is allowed (name-explain.ts): the rule is no secret.
    throw atriumError('ATRIUM_ERR_AUTH_BAD_NAME', explainBadUsername(a.usernamePattern, result.name, name, userNameProblem(name)));
  }
  const groups = result.groups ?? [];
  if (a.blockedUsers.map((u) => normalizeUsername(hub, u)).includes(name) || !isAllowed(hub, name, groups)) {
    hub.log.info({ user: name }, 'login refused: user not allowed');
    hub.metrics.logins.inc({ result: 'not_allowed' });
    throw atriumError('ATRIUM_ERR_AUTH_NOT_ALLOWED');
  }
  let admin = result.admin;
  if (admin === undefined) {
    if (a.adminUsers.map((u) => normalizeUsername(hub, u)).includes(name) || groups.some((g) => a.adminGroups.includes(g))) {
      admin = true;
    }
  }
  const { users, groups: groupStore } = hub.stores;
  const user = hub.stores.db.transaction(() => {
    const { user } = users.ensure(name);
    if (admin !== undefined) users.setAdmin(user.id, admin);
    if (a.manageGroups && result.groups) groupStore.syncUser(user.id, result.groups);
    if (result.authState !== undefined) users.setAuthState(user.id, hub.cipher.encrypt(result.authState));
    users.touch(user.id, new Date().toISOString());
    return users.getById(user.id)!;
  })();
  hub.metrics.logins.inc({ result: 'success' });
  return user;
}

