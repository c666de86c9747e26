/** /hub/api/user, /hub/api/users[...], activity (contracts §2.3, §2.4, §2.6). */
import type { FastifyInstance } from 'fastify';
import { atriumError } from '../errors.js';
import { authenticated, needsScope, pageOf, paged, userOr404 } from './guard.js';
import { userModel } from './models.js';
import { identifyScopes } from '../auth/identity.js';
import { checkedUsername } from '../auth/pipeline.js';
import { objectBody, stringList } from './body.js';
import { removeUser, renameUser } from '../spawn/server-lifecycle.js';
import { countUsers } from '../db/user-search.js';


type P = { name: string };
const truthy = (v: unknown) => v !== undefined && v !== '0' && v !== 'false';

export async function usersApi(app: FastifyInstance): Promise<void> {
  const hub = app.hub;

  app.get('/api/user', async (req) => {
    const ident = authenticated(hub, req);
    // A service's token: JupyterHub answers the service model (services/registry.ts).
    if (ident.service && hub.services) return { ...hub.services.model(ident.service), session_id: null, scopes: [...ident.scopes].sort() };
    const model = userModel(hub, ident, ident.user, { extraScopes: identifyScopes(ident.user.name) });
    // session_id is the token's (JupyterHub's SelfAPIHandler): null for cookie auth.
    return { ...model, session_id: ident.via === 'token' ? ident.sessionId : null, scopes: [...ident.scopes].sort() };
  });

  app.get('/api/users', async (req) => {
    const { ident, filtered } = needsScope(hub, req, ['list:users']);
    const q = req.query as Record<string, string | undefined>;
    const page = pageOf(req);
    if (q.state && !['active', 'ready', 'inactive'].includes(q.state)) {
      throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Unrecognized state filter: '${q.state}'`);
    }
    if (!filtered && !q.state) {
      // The common case (an admin or a script listing everyone): SQLite pages, so a page of 50
      // out of 10,000 users reads 50 rows.
      const rows = hub.stores.users.list({
        nameFilter: q.name_filter,
        // A 400-digit offset parses to Infinity, which SQLite refuses; past the end is an empty page.
        offset: Math.min(page.offset, Number.MAX_SAFE_INTEGER),
        limit: page.limit,
      });
      const items = rows.map((u) => userModel(hub, ident, u, { includeStopped: truthy(q.include_stopped_servers) }));
      return paged(hub, req, page, items, countUsers(hub.stores.db, q.name_filter ?? ''));
    }
    let rows = hub.stores.users.list({ nameFilter: q.name_filter });
    if (filtered) {
      const allowed = [...ident.scopes].filter((s) => s.startsWith('list:users!'));
      rows = rows.filter((u) =>
        allowed.some((s) => s === `list:users!user=${u.name}` || hub.stores.groups.groupsOf(u.id).some((g) => s === `list:users!group=${g}`)),
      );
    }
    if (q.state) {
      rows = rows.filter((u) => {
        const servers = hub.stores.servers.ofUser(u.id).map((s) => hub.spawns.get(u.name, s.name)).filter(Boolean);
        if (q.state === 'active') return servers.length > 0;
        if (q.state === 'ready') return servers.some((a) => a!.phase === 'running');
        return servers.length === 0;
      });
    }
    const total = rows.length;
    const items = rows.slice(page.offset, page.offset + page.limit).map((u) =>
      userModel(hub, ident, u, { includeStopped: truthy(q.include_stopped_servers) }),
    );
    return paged(hub, req, page, items, total);
  });

  app.post('/api/users', async (req, reply) => {
    needsScope(hub, req, ['admin:users']);
    const body = objectBody(req);
    const names = stringList(body.usernames, 'usernames');
    if (names.length === 0) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'Must specify at least one user to create');
    if (body.admin !== undefined && typeof body.admin !== 'boolean') throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'admin must be true or false');
    const normalized = [...new Set(names.map((n) => checkedUsername(hub, n)))];
    const fresh = normalized.filter((n) => !hub.stores.users.get(n));
    if (fresh.length === 0) throw atriumError('ATRIUM_ERR_USER_EXISTS', `All ${normalized.length} users already exist`);
    const created = hub.stores.db.transaction(() => fresh.map((n) => hub.stores.users.create(n, body.admin === true)))();
    const ident = authenticated(hub, req);
    reply.code(201);
    return created.map((u) => userModel(hub, ident, u));
  });

  app.get<{ Params: P }>('/api/users/:name', async (req) => {
    const { ident } = needsScope(hub, req, ['read:users', 'read:users:name', 'read:servers', 'read:users:groups', 'read:users:activity', 'read:roles:users'], { user: req.params.name });
    const u = userOr404(hub, req.params.name);
    const q = req.query as Record<string, string | undefined>;
    return userModel(hub, ident, u, { includeStopped: truthy(q.include_stopped_servers), authState: true });
  });

  app.post<{ Params: P }>('/api/users/:name', async (req, reply) => {
    const { ident } = needsScope(hub, req, ['admin:users'], { user: req.params.name });
    const name = checkedUsername(hub, req.params.name);
    if (hub.stores.users.get(name)) throw atriumError('ATRIUM_ERR_USER_EXISTS', `User ${name} already exists`);
    const body = objectBody(req);
    if (body.admin !== undefined && typeof body.admin !== 'boolean') throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'admin must be true or false');
    const u = hub.stores.users.create(name, body.admin === true);
    reply.code(201);
    return userModel(hub, ident, u);
  });

  app.patch<{ Params: P }>('/api/users/:name', async (req) => {
    const { ident } = needsScope(hub, req, ['admin:users'], { user: req.params.name });
    const u = userOr404(hub, req.params.name);
    const body = objectBody(req);
    const unknown = Object.keys(body).filter((k) => !['name', 'admin', 'auth_state'].includes(k));
    if (unknown.length) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Invalid JSON keys: ${unknown.join(', ')}`);
    if (body.admin !== undefined && typeof body.admin !== 'boolean') throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'admin must be true or false');
    if (body.auth_state !== undefined && (typeof body.auth_state !== 'object' || Array.isArray(body.auth_state))) {
      throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'auth_state must be a JSON object or null');
    }
    if (body.name !== undefined) {
      if (typeof body.name !== 'string') throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'name must be a string');
      renameUser(hub, u, checkedUsername(hub, body.name));
    }
    if (typeof body.admin === 'boolean') hub.stores.users.setAdmin(u.id, body.admin);
    if (body.auth_state !== undefined) hub.stores.users.setAuthState(u.id, body.auth_state === null ? null : hub.cipher.encrypt(body.auth_state));
    return userModel(hub, ident, hub.stores.users.getById(u.id)!, { authState: true });
  });

  app.delete<{ Params: P }>('/api/users/:name', async (req, reply) => {
    const { ident } = needsScope(hub, req, ['delete:users'], { user: req.params.name });
    const u = userOr404(hub, req.params.name);
    if (u.id === ident.user.id) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'Cannot delete yourself!');
    await removeUser(hub, u);
    reply.code(204).type('text/plain');
    return '';
  });

  app.post<{ Params: P }>('/api/users/:name/activity', async (req, reply) => {
    needsScope(hub, req, ['users:activity'], { user: req.params.name });
    const u = userOr404(hub, req.params.name);
    const body = objectBody(req);
    const parseTs = (v: unknown, what: string): string => {
      if (typeof v !== 'string') throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `${what} must be a timestamp string`);
      const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : v + 'Z');
      if (Number.isNaN(t)) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `${what}: invalid timestamp ${JSON.stringify(v).slice(0, 60)}`);
      if (t > Date.now() + 59 * 60_000) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Rejecting activity from more than an hour in the future: ${new Date(t).toISOString()}`);
      return new Date(t).toISOString();
    };
    if (body.last_activity === undefined && body.servers === undefined) {
      throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'body must contain at least one of `last_activity` or `servers`');
    }
    const updates: [number, string][] = [];
    if (body.servers !== undefined) {
      if (typeof body.servers !== 'object' || body.servers === null || Array.isArray(body.servers)) {
        throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'servers must be a dict');
      }
      for (const [sname, info] of Object.entries(body.servers as Record<string, unknown>)) {
        const row = hub.stores.servers.get(u.id, sname);
        if (!row) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `No such server '${sname}' for user ${u.name}`);
        const ts = parseTs((info as Record<string, unknown> | null)?.last_activity, `servers.${sname}.last_activity`);
        updates.push([row.id, ts]);
      }
    }
    const userTs = body.last_activity !== undefined ? parseTs(body.last_activity, 'last_activity') : null;
    hub.stores.db.transaction(() => {
      if (userTs) hub.stores.users.touch(u.id, userTs);
      for (const [id, ts] of updates) {
        hub.stores.servers.touch(id, ts);
        hub.stores.users.touch(u.id, ts);
      }
    })();
    reply.code(200).type('application/json');
    return '';
  });
}
