/**
 * The OAuth2 authorization-code provider that unmodified jupyterhub-singleuser servers use to
 * log browsers in (contracts §1.6, §1.5.4). The client is the server (id jupyterhub-user-NAME,
 * secret = the server's API token, stored hashed); the redirect URI must match byte for byte;
 * codes are single use and live 5 minutes; token errors use OAuth's {"error": ...} shape.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { checkTokenHash, hashToken, newToken, tokenPrefix } from '../auth/crypto.js';
import { groupsResolver, sessionFromCookie, type Identity } from '../auth/identity.js';
import { checkScopes } from '../auth/scopes.js';
import { checkXsrf, xsrfToken } from '../auth/session.js';
import { now } from '../db/index.js';
import { renderError, renderPage, esc } from '../pages/layout.js';
import { atriumError, catalogue, type AtriumError } from '../errors.js';
import { classifyError, logClassified } from '../error-classify.js';
import type { OAuthClientRow } from '../db/oauth.js';
import { encodeComponent, redirect } from '../pages/safe-redirect.js';
import { accessScope, type Service } from '../services/registry.js';

const CODE_TTL_MS = 300_000;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomCode(): string {
  const bytes = randomBytes(30);
  let s = '';
  for (const b of bytes) s += ALNUM[b % ALNUM.length];
  return s;
}

/** RFC 6749 §5.2: the token endpoint's errors have OAuth's own shape and codes, not ours. */
function oauthError(reply: FastifyReply, status: number, error: string, description?: string) {
  reply.code(status).header('Cache-Control', 'no-store').header('Pragma', 'no-cache').type('application/json');
  return description ? { error, error_description: description } : { error };
}

interface AuthorizeQuery {
  client_id?: string;
  redirect_uri?: string;
  response_type?: string;
  state?: string;
  scope?: string;
}

export async function oauthProvider(app: FastifyInstance): Promise<void> {
  const hub = app.hub;

  /**
   * The authorize endpoint lives under /hub/api/ but talks to browsers, so its refusals are pages
   * (the app's handler would answer JSON there); the classifier still decides status and message.
   */
  function refuse(reply: FastifyReply, err: AtriumError) {
    const c = classifyError(err);
    logClassified(hub.log, c, 'oauth authorize refused');
    return { error: renderError(hub, reply, c.status, c.message) };
  }

  /** Checks shared by GET (ask) and POST (confirm); returns the client and granted scopes. */
  function validate(req: FastifyRequest, reply: FastifyReply, ident: Identity, q: AuthorizeQuery) {
    const raw = req.raw.url ?? '';
    const params = new URLSearchParams(raw.includes('?') ? raw.slice(raw.indexOf('?') + 1) : '');
    for (const k of ['client_id', 'redirect_uri', 'response_type', 'state', 'scope']) {
      if (params.getAll(k).length > 1) return refuse(reply, atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Duplicate ${k} parameter.`));
    }
    const client = q.client_id ? hub.stores.oauth.client(q.client_id) : undefined;
    if (!client || !client.secret_hash) return refuse(reply, atriumError('ATRIUM_ERR_OAUTH_CLIENT'));
    if (q.redirect_uri !== client.redirect_uri) return refuse(reply, atriumError('ATRIUM_ERR_OAUTH_REDIRECT'));
    if (q.response_type !== 'code') {
      const sep = client.redirect_uri.includes('?') ? '&' : '?';
      redirect(reply, `${client.redirect_uri}${sep}error=unsupported_response_type${q.state ? `&state=${encodeComponent(q.state)}` : ''}`, 302);
      return { error: reply };
    }
    const service = client.server_id == null ? hub.services?.byClientId(client.id) : undefined;
    if (service) return validateService(reply, ident, client, q, service);
    const server = client.server_id != null ? hub.stores.servers.getById(client.server_id) : undefined;
    const owner = server ? hub.stores.users.getById(server.user_id) : undefined;
    if (!server || !owner) return refuse(reply, atriumError('ATRIUM_ERR_OAUTH_CLIENT', 'This OAuth client belongs to no server.'));
    const target = `${owner.name}/${server.name}`;
    if (checkScopes(ident.scopes, ['access:servers'], { server: target }, groupsResolver(hub)) !== 'ok') {
      return refuse(reply, atriumError('ATRIUM_ERR_OAUTH_ACCESS', `You do not have permission to access ${client.description}`));
    }
    const allowed = new Set<string>([...(JSON.parse(client.allowed_scopes) as string[]), 'read:users:name!user', 'read:users:groups!user', `access:servers!server=${target}`]);
    const requested = q.scope ? q.scope.split(/\s+/).filter((s) => s && s !== 'identify') : [...allowed];
    const bad = requested.filter((s) => !allowed.has(s));
    if (bad.length) {
      const sep = client.redirect_uri.includes('?') ? '&' : '?';
      redirect(reply, `${client.redirect_uri}${sep}error=invalid_scope${q.state ? `&state=${encodeComponent(q.state)}` : ''}`, 302);
      return { error: reply };
    }
    return { client, scopes: requested.sort(), own: owner.id === ident.user.id };
  }

  /**
   * A service's client (services/registry.ts): the user needs access:services for it (admins hold
   * it unfiltered, others through the service's accessUsers/accessGroups/accessAllUsers); the
   * confirmation page is skipped only with oauthNoConfirm, as in JupyterHub.
   */
  function validateService(reply: FastifyReply, ident: Identity, client: OAuthClientRow, q: AuthorizeQuery, service: Service) {
    const access = accessScope(service.name);
    if (!ident.scopes.has('access:services') && !ident.scopes.has(access)) {
      return refuse(reply, atriumError('ATRIUM_ERR_OAUTH_ACCESS', `You do not have permission to access Service ${service.name}`));
    }
    const allowed = new Set<string>([...(JSON.parse(client.allowed_scopes) as string[]), 'read:users:name!user', 'read:users:groups!user', access]);
    const requested = q.scope ? q.scope.split(/\s+/).filter((s) => s && s !== 'identify') : [...allowed];
    if (requested.some((s) => !allowed.has(s))) {
      const sep = client.redirect_uri.includes('?') ? '&' : '?';
      redirect(reply, `${client.redirect_uri}${sep}error=invalid_scope${q.state ? `&state=${encodeComponent(q.state)}` : ''}`, 302);
      return { error: reply };
    }
    return { client, scopes: requested.sort(), own: service.config.oauthNoConfirm };
  }

  function issueCode(reply: FastifyReply, ident: Identity, client: OAuthClientRow, scopes: string[], state: string | undefined) {
    const code = randomCode();
    hub.stores.oauth.deleteExpiredCodes(now());
    hub.stores.oauth.insertCode({
      code_hash: hashToken(code),
      client_id: client.id,
      user_id: ident.user.id,
      scopes: JSON.stringify(scopes),
      redirect_uri: client.redirect_uri,
      session_id: ident.sessionId,
      expires_at: new Date(Date.now() + CODE_TTL_MS).toISOString(),
    });
    const sep = client.redirect_uri.includes('?') ? '&' : '?';
    return redirect(reply, `${client.redirect_uri}${sep}code=${code}${state !== undefined ? `&state=${encodeComponent(state)}` : ''}`, 302);
  }

  app.get<{ Querystring: AuthorizeQuery }>('/api/oauth2/authorize', async (req, reply) => {
    const ident = sessionFromCookie(hub, req);
    if (!ident) return redirect(reply, `${hub.urls.hub}login?next=${encodeComponent(req.url)}`, 302);
    const v = validate(req, reply, ident, req.query);
    if ('error' in v) return v.error;
    if (v.own) return issueCode(reply, ident, v.client, v.scopes, req.query.state);
    // Someone else's server (admin access): ask first, so a crafted link cannot silently hand
    // an admin's token to a server its owner controls.
    const xsrf = xsrfToken(hub, req, reply);
    return renderPage(hub, reply, 'Authorize access', `
      <h1>Authorize access</h1>
      <p><strong>${esc(v.client.description)}</strong> asks to use your identity
      (${v.scopes.map(esc).join(', ')}).</p>
      <form method="post" action="${esc(req.url)}">
        <input type="hidden" name="_xsrf" value="${esc(xsrf)}">
        <button class="primary" type="submit">Authorize</button>
        <a class="button" href="${esc(hub.urls.hub)}home">Cancel</a>
      </form>`, ident.user);
  });

  app.post<{ Querystring: AuthorizeQuery; Body: Record<string, string> }>('/api/oauth2/authorize', async (req, reply) => {
    const ident = sessionFromCookie(hub, req);
    if (!ident) return redirect(reply, `${hub.urls.hub}login?next=${encodeComponent(req.url)}`, 302);
    checkXsrf(hub, req, (req.body as Record<string, string> | undefined)?._xsrf);
    const v = validate(req, reply, ident, req.query);
    if ('error' in v) return v.error;
    return issueCode(reply, ident, v.client, v.scopes, req.query.state);
  });

  app.post('/api/oauth2/token', async (req, reply) => {
    if (/^basic\s/i.test(req.headers.authorization ?? '')) return oauthError(reply, 401, 'invalid_client');
    const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : '');
    const client = str('client_id') ? hub.stores.oauth.client(str('client_id')) : undefined;
    if (!client || !client.secret_hash || !checkTokenHash(str('client_secret'), client.secret_hash)) {
      return oauthError(reply, 401, 'invalid_client');
    }
    if (str('grant_type') !== 'authorization_code') return oauthError(reply, 400, 'unsupported_grant_type');
    const code = str('code') ? hub.stores.oauth.takeCode(hashToken(str('code'))) : undefined;
    if (!code || code.client_id !== client.id || code.expires_at < now()) return oauthError(reply, 400, 'invalid_grant');
    if (str('redirect_uri') !== client.redirect_uri || code.redirect_uri !== client.redirect_uri) {
      return oauthError(reply, 400, 'invalid_request', catalogue.ATRIUM_ERR_OAUTH_REDIRECT.message);
    }
    const owner = hub.stores.users.getById(code.user_id);
    if (!owner) return oauthError(reply, 400, 'invalid_grant');
    const token = newToken();
    const expiresIn = hub.config.hub.oauthTokenExpiresSeconds;
    const scopes = JSON.parse(code.scopes) as string[];
    hub.stores.tokens.insert({
      userId: owner.id,
      prefix: tokenPrefix(token),
      hashed: hashToken(token),
      clientId: client.id,
      scopes,
      note: `OAuth token for ${client.description}`,
      sessionId: code.session_id,
      expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString(),
    });
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    return { access_token: token, expires_in: expiresIn, token_type: 'Bearer', scope: scopes.join(' ') };
  });

}
