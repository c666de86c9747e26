/**
 * Service and token-lookup routes of the JupyterHub API (contracts §2.2, §2.4):
 * GET /api/services[/NAME], GET /api/authorizations/token/TOKEN (deprecated in JupyterHub but
 * still answered by 3.x, and used by older services), POST /api/authorizations/token (gone since 2.0).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { atriumError } from '../errors.js';
import { authenticated } from '../api/guard.js';
import { findToken, headerToken, identifyScopes, type Identity } from '../auth/identity.js';
import { parseScope } from '../auth/scopes.js';
import { userModel } from '../api/models.js';

/** Holds `scope` for service `name`: unfiltered, or filtered to that service. */
function holds(ident: Identity, scopes: string[], name?: string): boolean {
  for (const h of ident.scopes) {
    const p = parseScope(h);
    if (!scopes.includes(p.name)) continue;
    if (!p.filter) return true;
    if (name !== undefined && p.filter.kind === 'service' && p.filter.value === name) return true;
  }
  return false;
}

export async function servicesApi(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  const all = () => [...(hub.services?.byName.values() ?? [])];

  const scopeError = (names: string[]) =>
    atriumError('ATRIUM_ERR_AUTH_SCOPE', `Action is not authorized with current scopes; requires any of [${names.join(', ')}]`);

  app.get('/api/services', async (req) => {
    const ident = authenticated(hub, req);
    const anyList = [...ident.scopes].some((s) => parseScope(s).name === 'list:services');
    if (!anyList) throw scopeError(['list:services']);
    const out: Record<string, unknown> = {};
    for (const s of all()) if (holds(ident, ['list:services'], s.name)) out[s.name] = hub.services!.model(s);
    return out;
  });

  app.get<{ Params: { name: string } }>('/api/services/:name', async (req) => {
    const ident = authenticated(hub, req);
    const names = ['read:services', 'read:services:name', 'read:roles:services'];
    if (![...ident.scopes].some((s) => names.includes(parseScope(s).name))) throw scopeError(names);
    const s = hub.services?.byName.get(req.params.name);
    // Unknown and not-allowed look the same, so service names do not leak.
    if (!s || !holds(ident, names, s.name)) throw atriumError('ATRIUM_ERR_SERVICE_NOT_FOUND');
    const m = hub.services!.model(s);
    if (holds(ident, ['read:services'], s.name)) return m;
    return { kind: m.kind, name: m.name, admin: m.admin };
  });

  // Any header token may ask (JupyterHub's @token_authenticated); a cookie may not.
  const tokenOwner = async (req: FastifyRequest<{ Params: { token: string } }>) => {
    if (!headerToken(req)) throw atriumError('ATRIUM_ERR_AUTH_FORBIDDEN');
    const ident = authenticated(hub, req);
    const token = req.params.token;
    const service = hub.services?.findToken(token);
    if (service) return hub.services!.model(service);
    const found = findToken(hub, token);
    if (!found) throw atriumError('ATRIUM_ERR_TOKEN_NOT_FOUND');
    // Filtered by the caller's scopes plus the owner's identify scopes (name, groups always shown).
    return userModel(hub, ident, found.user, { extraScopes: identifyScopes(found.user.name) });
  };
  app.get<{ Params: { token: string } }>('/api/authorizations/token/:token', tokenOwner);

  app.post('/api/authorizations/token', async () => {
    throw atriumError('ATRIUM_ERR_TOKEN_DEPRECATED');
  });
}
