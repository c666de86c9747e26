/**
 * Per-request authorization for API routes: who is calling (cached on the request) and whether
 * they hold a scope for the named resource (403 without the scope, 404 with a non-matching filter).
 */
import type { FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import { groupsResolver, identifyApi, type Identity } from '../auth/identity.js';
import { checkScopes, type Resource } from '../auth/scopes.js';
import { atriumError } from '../errors.js';
import type { UserRow } from '../db/index.js';

const IDENT = Symbol('atrium.identity');

export function identity(hub: HubContext, req: FastifyRequest): Identity | null {
  const r = req as FastifyRequest & { [IDENT]?: Identity | null };
  if (r[IDENT] === undefined) r[IDENT] = identifyApi(hub, req);
  return r[IDENT];
}

export function authenticated(hub: HubContext, req: FastifyRequest): Identity {
  const ident = identity(hub, req);
  if (!ident) throw atriumError('ATRIUM_ERR_AUTH_FORBIDDEN');
  return ident;
}

/** Returns the identity plus whether the result must be filtered by the handler. */
export function needsScope(
  hub: HubContext,
  req: FastifyRequest,
  names: string[],
  res: Resource = {},
): { ident: Identity; filtered: boolean } {
  const ident = authenticated(hub, req);
  const verdict = checkScopes(ident.scopes, names, res, groupsResolver(hub));
  if (verdict === 'forbidden') {
    throw atriumError('ATRIUM_ERR_AUTH_SCOPE', `Action is not authorized with current scopes; requires any of [${names.join(', ')}]`);
  }
  if (verdict === 'no-access') throw atriumError('ATRIUM_ERR_AUTH_NO_ACCESS');
  return { ident, filtered: verdict === 'filter' };
}

export function userOr404(hub: HubContext, name: string): UserRow {
  const u = hub.stores.users.get(name);
  if (!u) throw atriumError('ATRIUM_ERR_USER_NOT_FOUND');
  return u;
}

const PAGINATION_TYPE = 'application/jupyterhub-pagination+json';

export interface Page {
  offset: number;
  limit: number;
  wrap: boolean;
}

/** JupyterHub's pagination rule: default limit 50 only when the client asks for pages, else 200. */
export function pageOf(req: FastifyRequest): Page {
  const q = req.query as Record<string, string | undefined>;
  const accept = String(req.headers.accept ?? '');
  const wrap = accept.split(',').some((s) => s.trim() === PAGINATION_TYPE);
  const num = (v: string | undefined, def: number) => {
    if (v === undefined || v === '') return def;
    if (!/^-?\d+$/.test(v)) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'Invalid argument type, offset and limit must be integers');
    return Math.abs(parseInt(v, 10));
  };
  const offset = num(q.offset, 0);
  const limit = Math.min(Math.max(num(q.limit, wrap ? 50 : 200), 1), 200);
  return { offset, limit, wrap };
}

export function paged<T>(hub: HubContext, req: FastifyRequest, page: Page, items: T, total: number): unknown {
  if (!page.wrap) return items;
  const count = Array.isArray(items) ? items.length : Object.keys(items as object).length;
  let next = null;
  if (page.offset + count < total) {
    const u = new URL(req.url, `${hub.urls.secure ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`);
    u.searchParams.set('offset', String(page.offset + page.limit));
    u.searchParams.set('limit', String(page.limit));
    next = { offset: page.offset + page.limit, limit: page.limit, url: u.toString() };
  }
  return { items, _pagination: { offset: page.offset, limit: page.limit, total, next } };
}
