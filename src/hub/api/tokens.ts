/** /hub/api/users/:name/tokens[/:id] (contracts §2.4). The token value is shown once, at creation. */
import type { FastifyInstance } from 'fastify';
import { atriumError } from '../errors.js';
import { authenticated, needsScope, userOr404 } from './guard.js';
import { objectBody, stringList } from './body.js';
import { tokenModel } from './models.js';
import { hashToken, newToken, tokenPrefix } from '../auth/crypto.js';
import { expandScopes, intersectScopes, isValidScope, ROLES, roleScopes } from '../auth/scopes.js';
import { groupsResolver, userScopes } from '../auth/identity.js';
import { staffScopes } from '../staff/role.js';
import type { UserRow } from '../db/index.js';

type P = { name: string; id?: string };

function tokenIdOf(id: string | undefined): number {
  const m = /^a(\d{1,15})$/.exec(id ?? '');
  if (!m) throw atriumError('ATRIUM_ERR_TOKEN_NOT_FOUND', `Token not found ${id ?? ''}`.trim());
  return Number(m[1]);
}

export async function tokensApi(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  const tokenOf = (u: UserRow, id: string | undefined) => {
    const t = hub.stores.tokens.get(tokenIdOf(id));
    if (!t || t.user_id !== u.id) throw atriumError('ATRIUM_ERR_TOKEN_NOT_FOUND', `Token not found ${id}`);
    return t;
  };

  app.get<{ Params: P }>('/api/users/:name/tokens', async (req) => {
    needsScope(hub, req, ['read:tokens'], { user: req.params.name });
    const u = userOr404(hub, req.params.name);
    hub.stores.tokens.deleteExpired();
    return { api_tokens: hub.stores.tokens.ofUser(u.id).map((t) => tokenModel(hub, u, t)) };
  });

  app.post<{ Params: P }>('/api/users/:name/tokens', async (req, reply) => {
    const ident = authenticated(hub, req);
    needsScope(hub, req, ['tokens'], { user: req.params.name });
    const u = userOr404(hub, req.params.name);
    const body = objectBody(req);
    if (body.scopes !== undefined && body.roles !== undefined) {
      throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'Can only assign one of scopes or roles when creating tokens.');
    }
    // A token never gets more than was asked for, and never more than its owner or the caller
    // holds: unknown or unheld scopes/roles are a 400 naming them (JupyterHub's rule), never a
    // silent 'inherit'.
    let scopes = ['inherit'];
    let asked = 'scopes';
    if (body.scopes !== undefined) {
      scopes = stringList(body.scopes, 'scopes');
      const bad = scopes.filter((s) => !isValidScope(s));
      if (bad.length) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Unknown scopes: ${bad.join(', ')}`);
    } else if (body.roles !== undefined) {
      const roles = stringList(body.roles, 'roles');
      const unknown = roles.filter((r) => !Object.hasOwn(ROLES, r));
      if (unknown.length) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Unknown roles: ${unknown.join(', ')}`);
      scopes = roles.includes('token') ? ['inherit'] : roleScopes(roles);
      asked = `roles ${roles.join(', ')}: scopes`;
    }
    const owner = userScopes(u, staffScopes(hub.config, u.name));
    const wanted = scopes.includes('inherit') ? owner : expandScopes(scopes, u.name);
    const groups = groupsResolver(hub);
    for (const [holder, held] of [[`User ${u.name}`, owner], [`the requester (${ident.via === 'token' ? 'token' : 'session'} of ${ident.user.name})`, ident.scopes]] as const) {
      if (holder.startsWith('User') && wanted === owner) continue;
      const granted = intersectScopes(wanted, held, groups);
      const missing = [...wanted].filter((s) => !granted.has(s));
      if (missing.length) {
        throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Not assigning requested ${asked} ${missing.sort().join(', ')} not held by ${holder}`);
      }
    }
    if (body.note !== undefined && (typeof body.note !== 'string' || body.note.length > 1000)) {
      throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'note must be a string of at most 1000 characters');
    }
    let expiresAt: string | null = null;
    if (body.expires_in !== undefined && body.expires_in !== null) {
      if (typeof body.expires_in !== 'number' || !Number.isFinite(body.expires_in) || body.expires_in <= 0 || body.expires_in > 10 * 365 * 86400) {
        throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'expires_in must be a positive number of seconds');
      }
      expiresAt = new Date(Date.now() + body.expires_in * 1000).toISOString();
    }
    const note = (body.note as string | undefined) ?? `Requested via api${ident.user.id !== u.id ? ` by user ${ident.user.name}` : ''}`;
    const token = newToken();
    const row = hub.stores.tokens.insert({ userId: u.id, prefix: tokenPrefix(token), hashed: hashToken(token), scopes, note, expiresAt });
    reply.code(201);
    return { ...tokenModel(hub, u, row), token };
  });

  app.get<{ Params: P }>('/api/users/:name/tokens/:id', async (req) => {
    needsScope(hub, req, ['read:tokens'], { user: req.params.name });
    const u = userOr404(hub, req.params.name);
    return tokenModel(hub, u, tokenOf(u, req.params.id));
  });

  app.delete<{ Params: P }>('/api/users/:name/tokens/:id', async (req, reply) => {
    needsScope(hub, req, ['tokens'], { user: req.params.name });
    const u = userOr404(hub, req.params.name);
    const t = tokenOf(u, req.params.id);
    // Revoking an OAuth token revokes all of this user's tokens for that client (JupyterHub's rule).
    if (t.client_id !== 'jupyterhub') hub.stores.tokens.deleteForClient(u.id, t.client_id);
    else hub.stores.tokens.delete(t.id);
    reply.code(204).type('text/plain');
    return '';
  });
}
