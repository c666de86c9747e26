/**
 * Browser sessions and CSRF. The login cookie holds a random token; only its hash is stored, so
 * a leaked database does not leak sessions. Cookies are HttpOnly, SameSite=Lax, Secure under
 * https. Every form carries `_xsrf`, an HMAC of the session (see xsrfToken), compared in constant
 * time; SameSite=Lax plus that check stops cross-site and same-origin forged form posts.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { now } from '../db/index.js';
import { hashToken, loadSecret, newToken, safeEqual } from './crypto.js';
import { LOGIN_COOKIE, SESSION_ID_COOKIE, XSRF_COOKIE, sessionFromCookie } from './identity.js';
import { atriumError } from '../errors.js';

function cookieOptions(hub: HubContext, path: string, maxAgeSeconds?: number) {
  return {
    path,
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: hub.urls.secure,
    ...(maxAgeSeconds ? { maxAge: maxAgeSeconds } : {}),
  };
}

export function startSession(hub: HubContext, req: FastifyRequest, reply: FastifyReply, user: UserRow): string {
  const value = newToken();
  // Keep the browser's jupyterhub-session-id across logins so single-user caches stay coherent.
  const existing = req.cookies?.[SESSION_ID_COOKIE];
  const sessionId = existing && /^[0-9a-f]{32}$/.test(existing) ? existing : randomBytes(16).toString('hex');
  const maxAge = hub.config.hub.cookieMaxAgeSeconds;
  hub.stores.sessions.insert({
    id: hashToken(value),
    user_id: user.id,
    session_id: sessionId,
    created: now(),
    expires_at: new Date(Date.now() + maxAge * 1000).toISOString(),
  });
  reply.setCookie(LOGIN_COOKIE, value, cookieOptions(hub, hub.urls.hub, maxAge));
  reply.setCookie(SESSION_ID_COOKIE, sessionId, cookieOptions(hub, hub.urls.base));
  // The pre-login CSRF binding ends here: forms from now on are bound to the new session, so a
  // pre-login cookie someone planted or saw is worth nothing after login.
  reply.clearCookie(XSRF_COOKIE, { path: hub.urls.hub });
  const cookies = req.cookies as Record<string, string | undefined>;
  cookies[LOGIN_COOKIE] = value;
  delete cookies[XSRF_COOKIE];
  return sessionId;
}

/** Log out: drop the session and every OAuth token issued in it (as JupyterHub does). */
export function endSession(hub: HubContext, req: FastifyRequest, reply: FastifyReply): void {
  const ident = sessionFromCookie(hub, req);
  const value = req.cookies?.[LOGIN_COOKIE];
  if (value) hub.stores.sessions.delete(hashToken(value));
  if (ident?.sessionId) hub.stores.tokens.deleteForSession(ident.user.id, ident.sessionId);
  reply.clearCookie(LOGIN_COOKIE, { path: hub.urls.hub });
  reply.clearCookie(SESSION_ID_COOKIE, { path: hub.urls.base });
}

/**
 * CSRF tokens are bound to the browser's session (as in JupyterHub >= 4.1): the token is
 * HMAC(hub key, session), where the session is the login cookie's stored hash, or before login a
 * random pre-login cookie that login replaces. A user server on the same origin can plant a
 * cookie but cannot compute the HMAC, and a token minted for one session is refused in another.
 */
const xsrfKeys = new WeakMap<HubContext, string>();

function xsrfKey(hub: HubContext): string {
  let key = xsrfKeys.get(hub);
  if (!key) {
    key = loadSecret(hub.config.hub.stateDir, 'xsrf.key', undefined);
    xsrfKeys.set(hub, key);
  }
  return key;
}

const PRE_LOGIN = /^[0-9a-f]{64}$/;

/** What this request's tokens are bound to, or null when it has neither session nor pre-login cookie. */
function xsrfBinding(hub: HubContext, req: FastifyRequest): string | null {
  const login = req.cookies?.[LOGIN_COOKIE];
  if (login && sessionFromCookie(hub, req)) return `session:${hashToken(login)}`;
  const pre = req.cookies?.[XSRF_COOKIE];
  if (pre && PRE_LOGIN.test(pre)) return `pre-login:${pre}`;
  return null;
}

function xsrfFor(hub: HubContext, binding: string): string {
  return createHmac('sha256', xsrfKey(hub)).update(binding).digest('hex');
}

/** The XSRF token for forms on this page; sets a pre-login cookie if there is nothing to bind to. */
export function xsrfToken(hub: HubContext, req: FastifyRequest, reply: FastifyReply): string {
  let binding = xsrfBinding(hub, req);
  if (!binding) {
    const value = newToken();
    reply.setCookie(XSRF_COOKIE, value, cookieOptions(hub, hub.urls.hub));
    (req.cookies as Record<string, string>)[XSRF_COOKIE] = value;
    binding = `pre-login:${value}`;
  }
  return xsrfFor(hub, binding);
}

export function checkXsrf(hub: HubContext, req: FastifyRequest, submitted: unknown): void {
  const header = req.headers['x-xsrftoken'];
  const value = typeof submitted === 'string' && submitted ? submitted : typeof header === 'string' ? header : '';
  const binding = xsrfBinding(hub, req);
  if (!binding || !value || !safeEqual(xsrfFor(hub, binding), value)) throw atriumError('ATRIUM_ERR_AUTH_CSRF');
}
