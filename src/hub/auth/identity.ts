/**
 * Who is calling: a token in the Authorization header, or the hub login cookie. Follows
 * JupyterHub's rules (contracts §2.1): an unknown token is anonymous (never 401); cookie auth on
 * API routes only counts when the Referer is our own hub page, and for POST only with no body
 * type or JSON, so a cross-site form can never drive the API with the user's cookie.
 */
import type { FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { TokenRow, UserRow } from '../db/index.js';
import { now } from '../db/index.js';
import { checkTokenHash, hashToken, tokenPrefix } from './crypto.js';
import { expandScopes, intersectScopes, roleScopes } from './scopes.js';
import type { Service } from '../services/registry.js';
import { staffScopes } from '../staff/role.js';

export const LOGIN_COOKIE = 'atrium-hub-login';
export const SESSION_ID_COOKIE = 'jupyterhub-session-id';
export const XSRF_COOKIE = 'atrium-xsrf';

export interface Identity {
  user: UserRow;
  via: 'token' | 'cookie';
  token?: TokenRow;
  scopes: Set<string>;
  /** The browser session the token or cookie belongs to (jupyterhub-session-id), if any. */
  sessionId: string | null;
  /**
   * Set when a service's token is calling. `user` is then a placeholder that matches no user
   * (id 0, empty name); what the service may do is in `scopes`.
   */
  service?: Service;
}

const NO_USER: UserRow = Object.freeze({ id: 0, name: '', admin: 0, created: '', last_activity: null, auth_state: null });

const TOKEN_HEADER = /^(?:token|bearer)\s+(\S+)$/i;
const ACTIVITY_RESOLUTION_MS = 30_000;

export function groupsResolver(hub: HubContext): (user: string) => string[] {
  const cache = new Map<string, string[]>();
  return (name) => {
    let g = cache.get(name);
    if (!g) {
      const u = hub.stores.users.get(name);
      g = u ? hub.stores.groups.groupsOf(u.id) : [];
      cache.set(name, g);
    }
    return g;
  };
}

/** A user's scopes: their default roles plus `extra` (the teaching-staff role, staff/role.ts). */
export function userScopes(user: UserRow, extra: string[] = []): Set<string> {
  return expandScopes([...roleScopes(user.admin ? ['user', 'admin'] : ['user']), ...extra], user.name);
}

/** A user's scopes plus access to the services configured to let them in (services/registry.ts). */
export function principalScopes(hub: HubContext, user: UserRow): Set<string> {
  const base = userScopes(user, staffScopes(hub.config, user.name));
  const extra = hub.services?.accessScopesFor(user, groupsResolver(hub)) ?? [];
  for (const s of extra) base.add(s);
  return base;
}

export function identifyScopes(name: string): string[] {
  return [`read:users:name!user=${name}`, `read:users:groups!user=${name}`];
}

/** Effective scopes of a token: its own (expanded), narrowed to what its owner holds. */
export function tokenScopes(hub: HubContext, token: TokenRow, owner: UserRow): Set<string> {
  const ownerScopes = principalScopes(hub, owner);
  const raw = JSON.parse(token.scopes) as string[];
  if (raw.includes('inherit')) return ownerScopes;
  let serverOfClient: string | undefined;
  const extra: string[] = [...identifyScopes(owner.name)];
  if (token.client_id !== 'jupyterhub') {
    const client = hub.stores.oauth.client(token.client_id);
    const server = client?.server_id != null ? hub.stores.servers.getById(client.server_id) : undefined;
    if (server) {
      serverOfClient = `${owner.name}/${server.name}`;
      extra.push(`access:servers!server=${serverOfClient}`);
    }
  }
  const expanded = expandScopes([...raw, ...extra], owner.name, serverOfClient);
  return intersectScopes(expanded, ownerScopes, groupsResolver(hub));
}

export function findToken(hub: HubContext, token: string): { token: TokenRow; user: UserRow } | null {
  if (token.length < 8 || token.length > 256) return null;
  for (const row of hub.stores.tokens.byPrefix(tokenPrefix(token))) {
    if (!checkTokenHash(token, row.hashed)) continue;
    if (row.expires_at && row.expires_at < now()) return null;
    const user = hub.stores.users.getById(row.user_id);
    if (!user) return null;
    const t = Date.now();
    if (!row.last_activity || t - Date.parse(row.last_activity) > ACTIVITY_RESOLUTION_MS) {
      const iso = new Date(t).toISOString();
      // Only a record of use: a locked database must not turn a read into a failure.
      hub.stores.health.bookkeeping(() => {
        hub.stores.tokens.touch(row.id, iso);
        // Server tokens report activity through the activity API, not by being used; tokens tied
        // to a server (its own, the idle culler's probe) are never the user's activity.
        if (row.server_id == null && !row.note.startsWith('Server at ')) hub.stores.users.touch(user.id, iso);
      });
    }
    return { token: row, user };
  }
  return null;
}

export function headerToken(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = TOKEN_HEADER.exec(h.trim());
  return m ? m[1]! : null;
}

export function sessionFromCookie(hub: HubContext, req: FastifyRequest): Identity | null {
  const value = req.cookies?.[LOGIN_COOKIE];
  if (!value || value.length > 256) return null;
  const row = hub.stores.sessions.get(hashToken(value));
  if (!row) return null;
  if (row.expires_at < now()) {
    hub.stores.health.bookkeeping(() => hub.stores.sessions.delete(row.id));
    return null;
  }
  const user = hub.stores.users.getById(row.user_id);
  if (!user) return null;
  return { user, via: 'cookie', scopes: principalScopes(hub, user), sessionId: row.session_id };
}

/** JupyterHub's rule for cookie-authenticated API requests. */
function apiCookieAllowed(hub: HubContext, req: FastifyRequest): boolean {
  const host = req.headers.host;
  const referer = req.headers.referer;
  if (!host || !referer) return false;
  let ref: URL;
  try {
    ref = new URL(referer);
  } catch {
    return false;
  }
  if (ref.host !== host) return false;
  if (!ref.pathname.startsWith(hub.urls.hub)) return false;
  if (req.method === 'POST' || req.method === 'PATCH' || req.method === 'PUT' || req.method === 'DELETE') {
    const ct = req.headers['content-type'];
    if (ct && !ct.toLowerCase().startsWith('application/json')) return false;
  }
  return true;
}

export function identifyApi(hub: HubContext, req: FastifyRequest): Identity | null {
  const t = headerToken(req);
  if (t) {
    const service = hub.services?.findToken(t);
    if (service) return { user: NO_USER, via: 'token', scopes: new Set(service.scopes), sessionId: null, service };
    const found = findToken(hub, t);
    if (!found) return null;
    return {
      user: found.user,
      via: 'token',
      token: found.token,
      scopes: tokenScopes(hub, found.token, found.user),
      sessionId: found.token.session_id,
    };
  }
  if (req.cookies?.[LOGIN_COOKIE] && apiCookieAllowed(hub, req)) return sessionFromCookie(hub, req);
  return null;
}
