/**
 * Login and logout pages, and the one helper every page uses to find the user. Form-mode
 * authenticators (dummy, LDAP) get a user name + password form; request-mode ones (header) are
 * asked on every visit to the login URL, and on any page when autoLogin is on.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { sessionFromCookie } from '../auth/identity.js';
import { checkXsrf, endSession, startSession, xsrfToken } from '../auth/session.js';
import { completeLogin, normalizeUsername } from '../auth/pipeline.js';
import { explainBadUsername, usernameRule } from '../auth/name-explain.js';
import { USER_NAME_MAX } from '../../shared/names.js';
import { plainHttpWarning } from './plain-http.js';
import { clientAddress } from '../auth/client-address.js';
import { atriumError, hasCode } from '../errors.js';
import { classifyError, logClassified } from '../error-classify.js';
import { esc, renderError, renderPage } from './layout.js';
import { encodeComponent, redirect, safeNext } from './safe-redirect.js';

export { safeNext };

function defaultNext(hub: HubContext): string {
  return `${hub.urls.hub}spawn`;
}

async function loginFromRequest(hub: HubContext, req: FastifyRequest, form: Record<string, string>): Promise<UserRow | null> {
  const result = await hub.authenticator.authenticate(
    { headers: req.headers, peerAddress: clientAddress(hub, req), method: req.method, url: req.url },
    form,
  );
  if (!result) {
    hub.metrics.logins.inc({ result: 'failed' });
    return null;
  }
  return completeLogin(hub, result);
}

/**
 * Count a failed login by its code. Authenticators throw catalogued errors (AuthUnavailableError,
 * AuthRefusedError), so no translation is needed; whoever renders the answer logs it.
 */
function countAuthFailure(hub: HubContext, err: unknown): void {
  if (hasCode(err, 'ATRIUM_ERR_AUTH_UNAVAILABLE', 'ATRIUM_ERR_LDAP_UNAVAILABLE')) hub.metrics.logins.inc({ result: 'unavailable' });
  else if (hasCode(err, 'ATRIUM_ERR_AUTH_REFUSED', 'ATRIUM_ERR_AUTH_UNTRUSTED_PROXY')) hub.metrics.logins.inc({ result: 'refused' });
}

/** A failed login as the page the user should see; bugs go on to the app's error handler. */
function loginFailure(hub: HubContext, req: FastifyRequest, reply: FastifyReply, err: unknown, next: string | null, form: { username: string } | null) {
  const c = classifyError(err);
  if (!c.expected) throw err;
  countAuthFailure(hub, err);
  logClassified(hub.log, c, 'login failed', { peer: clientAddress(hub, req) });
  // A refusal or a bad name on the form page keeps the form and what was typed (not the password).
  if (form && (c.status === 403 || c.status === 400)) return loginForm(hub, req, reply, next, { error: c.message, username: form.username, status: c.status });
  reply.headers(c.headers);
  return renderError(hub, reply, c.status, c.message);
}

/**
 * The logged-in user for a page, or null. With autoLogin and a request-mode authenticator the
 * identity headers log the user in right here.
 */
export async function pageUser(hub: HubContext, req: FastifyRequest, reply: FastifyReply): Promise<UserRow | null> {
  const ident = sessionFromCookie(hub, req);
  if (ident) return ident.user;
  if (hub.authenticator.mode === 'request' && hub.config.authenticator.autoLogin) {
    let user: UserRow | null;
    try {
      user = await loginFromRequest(hub, req, {});
    } catch (err) {
      // Refused or unavailable: the app's error handler answers 403/503 from the code and logs it.
      countAuthFailure(hub, err);
      throw err;
    }
    if (user) startSession(hub, req, reply, user);
    return user;
  }
  return null;
}

export function redirectToLogin(hub: HubContext, req: FastifyRequest, reply: FastifyReply) {
  return redirect(reply, `${hub.urls.hub}login?next=${encodeComponent(req.url)}`, 302);
}

function loginForm(hub: HubContext, req: FastifyRequest, reply: FastifyReply, next: string | null, o: { error?: string; username?: string; status?: number } = {}) {
  const xsrf = xsrfToken(hub, req, reply);
  const action = `${hub.urls.hub}login${next ? `?next=${encodeComponent(next)}` : ''}`;
  // An authenticator that takes any name (dummy): the page says which ones the hub accepts.
  const rule = hub.authenticator.anyName
    ? `<small class="muted" id="username-rule">${esc(usernameRule(hub.config.authenticator.usernamePattern))}</small>`
    : '';
  return renderPage(hub, reply, 'Sign in', `
    <div class="card" style="max-width:26rem;margin:auto">
      <h1>Sign in</h1>
      ${plainHttpWarning()}
      ${o.error ? `<p class="error" role="alert" id="login-error">${esc(o.error)}</p>` : ''}
      <form method="post" action="${esc(action)}">
        <input type="hidden" name="_xsrf" value="${esc(xsrf)}">
        <label for="username">User name</label>
        <input id="username" name="username" autocomplete="username" autocapitalize="none" required autofocus value="${esc(o.username ?? '')}"${o.error ? ' aria-describedby="login-error"' : ''}>
        ${rule}
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password">
        <p><button class="primary" id="login_submit" type="submit">Sign in</button></p>
      </form>
    </div>`, null, o.status ?? 200);
}

export async function loginPages(app: FastifyInstance): Promise<void> {
  const hub = app.hub;

  app.get<{ Querystring: { next?: string } }>('/login', async (req, reply) => {
    const next = safeNext(hub, req.query.next);
    const ident = sessionFromCookie(hub, req);
    if (ident) return redirect(reply, next ?? defaultNext(hub), 302);
    if (hub.authenticator.mode === 'request') {
      try {
        const user = await loginFromRequest(hub, req, {});
        if (!user) throw atriumError('ATRIUM_ERR_AUTH_LOGIN_FAILED', 'No identity was received from the front proxy. Sign in through your portal.');
        startSession(hub, req, reply, user);
        return redirect(reply, next ?? defaultNext(hub), 302);
      } catch (err) {
        return loginFailure(hub, req, reply, err, next, null);
      }
    }
    return loginForm(hub, req, reply, next);
  });

  app.post<{ Querystring: { next?: string } }>('/login', async (req, reply) => {
    const next = safeNext(hub, req.query.next);
    const body = (typeof req.body === 'object' && req.body ? req.body : {}) as Record<string, unknown>;
    checkXsrf(hub, req, body._xsrf);
    const form: Record<string, string> = {};
    for (const [k, v] of Object.entries(body)) if (typeof v === 'string' && k !== '_xsrf') form[k] = v;
    form.username = (form.username ?? '').trim();
    const typed = form.username.slice(0, 300);
    try {
      // username=a&username=b (or a JSON-ish body) arrives as an array: a client mistake, not a login.
      if (body.username !== undefined && typeof body.username !== 'string') {
        throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'The user name must be sent once, as text.');
      }
      if (!form.username) throw atriumError('ATRIUM_ERR_AUTH_BAD_NAME', 'Enter a user name.');
      const normalised = normalizeUsername(hub, form.username);
      if (form.username.length > USER_NAME_MAX) {
        throw atriumError('ATRIUM_ERR_AUTH_BAD_NAME', explainBadUsername(hub.config.authenticator.usernamePattern, form.username, normalised, null));
      }
      const user = await loginFromRequest(hub, req, form);
      if (!user) throw atriumError('ATRIUM_ERR_AUTH_LOGIN_FAILED');
      startSession(hub, req, reply, user);
      return redirect(reply, next ?? defaultNext(hub), 302);
    } catch (err) {
      return loginFailure(hub, req, reply, err, next, { username: typed });
    }
  });

  app.get('/logout', async (req, reply) => {
    endSession(hub, req, reply);
    return renderPage(hub, reply, 'Signed out', `<div class="card"><h1>Signed out</h1>
      <p>Your servers keep running. <a class="button primary" href="${esc(hub.urls.hub)}login">Sign in again</a></p></div>`);
  });
}
