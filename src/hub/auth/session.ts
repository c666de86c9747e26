/**
 * Browser sessions and CSRF. The login cookie holds a random token; only its hash is stored, so
 * a leaked database does not leak sessions. Cookies are HttpOnly, SameSite=Lax, Secure under
 * https. Every form carries `_xsrf`, which must equal the XSRF cookie (double submit, compared in
 * constant time); SameSite=Lax plus that check stops cross-site form posts.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { now } from '../db/index.js';
import { hashToken, newToken, safeEqual } from './crypto.js';
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

/** The XSRF token for forms on this page, set as a cookie if the browser has none yet. */
export function xsrfToken(hub: HubContext, req: FastifyRequest, reply: FastifyReply): string {
  const existing = req.cookies?.[XSRF_COOKIE];
  if (existing && /^[0-9a-f]{64}$/.test(existing)) return existing;
  const value = newToken();
  reply.setCookie(XSRF_COOKIE, value, cookieOptions(hub, hub.urls.hub));
  // Make it visible to this same request's form rendering.
  (req.cookies as Record<string, string>)[XSRF_COOKIE] = value;
  return value;
}

export function checkXsrf(req: FastifyRequest, submitted: unknown): void {
  const cookie = req.cookies?.[XSRF_COOKIE];
  const header = req.headers['x-xsrftoken'];
  const value = typeof submitted === 'string' && submitted ? submitted : typeof header === 'string' ? header : '';
  if (!cookie || !value || !safeEqual(cookie, value)) throw atriumError('ATRIUM_ERR_AUTH_CSRF');
}
