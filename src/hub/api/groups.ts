/** /hub/api/groups[...] (contracts §2.4). */
import type { FastifyInstance } from 'fastify';
import { atriumError } from '../errors.js';
import { needsScope, pageOf, paged } from './guard.js';
import { objectBody, stringList } from './body.js';
import { groupModel } from './models.js';
import type { GroupRow } from '../db/index.js';

type P = { group: string };
const GROUP_NAME = /^[^/\u0000-\u001f\u007f]{1,255}$/;

/** Group names: 1–255 characters, no slash or control character (shared with the admin page). */
export function isValidGroupName(name: unknown): name is string {
  return typeof name === 'string' && GROUP_NAME.test(name);
}

export async function groupsApi(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  const groups = hub.stores.groups;
  const managed = () => {
    if (hub.config.authenticator.manageGroups) throw atriumError('ATRIUM_ERR_GROUP_MANAGED');
  };
  const groupOr404 = (name: string) => {
    const g = groups.get(name);
    if (!g) throw atriumError('ATRIUM_ERR_GROUP_NOT_FOUND', `No such group: ${name}`);
    return g;
  };
  const renameGroup = (name: unknown, g: GroupRow) => {
    if (typeof name !== 'string' || !GROUP_NAME.test(name)) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Invalid group name: ${JSON.stringify(name).slice(0, 80)}`);
    if (name === g.name) return;
    if (groups.get(name)) throw atriumError('ATRIUM_ERR_GROUP_EXISTS', `Group ${name} already exists`);
    groups.rename(g.id, name);
  };
  const usersOf = (v: unknown) => {
    const names = stringList(v ?? [], 'users');
    return names.map((n) => {
      const u = hub.stores.users.get(n);
      if (!u) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `No such user: ${n}`);
      return u;
    });
  };

  app.get('/api/groups', async (req) => {
    const { ident, filtered } = needsScope(hub, req, ['list:groups']);
    const page = pageOf(req);
    let rows = groups.list();
    if (filtered) rows = rows.filter((g) => ident.scopes.has(`list:groups!group=${g.name}`));
    return paged(hub, req, page, rows.slice(page.offset, page.offset + page.limit).map((g) => groupModel(hub, ident, g)), rows.length);
  });

  app.post('/api/groups', async (req, reply) => {
    const { ident } = needsScope(hub, req, ['admin:groups']);
    managed();
    const body = objectBody(req);
    const names = stringList(body.groups, 'groups');
    if (names.length === 0) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'Must specify at least one group to create');
    for (const n of names) {
      if (!GROUP_NAME.test(n)) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Invalid group name: ${JSON.stringify(n).slice(0, 80)}`);
      if (groups.get(n)) throw atriumError('ATRIUM_ERR_GROUP_EXISTS', `Group ${n} already exists`);
    }
    const members = usersOf(body.users);
    const created = hub.stores.db.transaction(() =>
      names.map((n) => {
        const g = groups.create(n);
        for (const u of members) groups.addMember(g.id, u.id);
        return g;
      }),
    )();
    reply.code(201);
    return created.map((g) => groupModel(hub, ident, g));
  });

  app.get<{ Params: P }>('/api/groups/:group', async (req) => {
    const { ident } = needsScope(hub, req, ['read:groups', 'read:groups:name', 'read:roles:groups'], { group: req.params.group });
    return groupModel(hub, ident, groupOr404(req.params.group));
  });

  app.post<{ Params: P }>('/api/groups/:group', async (req, reply) => {
    const { ident } = needsScope(hub, req, ['admin:groups'], { group: req.params.group });
    managed();
    const name = req.params.group;
    if (!GROUP_NAME.test(name)) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'Invalid group name');
    if (groups.get(name)) throw atriumError('ATRIUM_ERR_GROUP_EXISTS', `Group ${name} already exists`);
    const members = usersOf(objectBody(req).users);
    const g = hub.stores.db.transaction(() => {
      const g = groups.create(name);
      for (const u of members) groups.addMember(g.id, u.id);
      return g;
    })();
    reply.code(201);
    return groupModel(hub, ident, g);
  });

  // JupyterHub 5: PATCH {"name": "new"} renames a group (members and roles stay).
  app.patch<{ Params: P }>('/api/groups/:group', async (req) => {
    const { ident } = needsScope(hub, req, ['admin:groups'], { group: req.params.group });
    managed();
    const g = groupOr404(req.params.group);
    const body = objectBody(req);
    const unknown = Object.keys(body).filter((k) => k !== 'name');
    if (unknown.length) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Invalid JSON keys: ${unknown.join(', ')}`);
    if (body.name !== undefined) renameGroup(body.name, g);
    return groupModel(hub, ident, groups.get(typeof body.name === 'string' ? body.name : g.name)!);
  });

  app.delete<{ Params: P }>('/api/groups/:group', async (req, reply) => {
    needsScope(hub, req, ['delete:groups'], { group: req.params.group });
    managed();
    groups.delete(groupOr404(req.params.group).id);
    reply.code(204).type('text/plain');
    return '';
  });

  const members = (add: boolean) => async (req: { params: P }) => {
    const r = req as Parameters<typeof objectBody>[0] & { params: P };
    const { ident } = needsScope(hub, r, ['groups'], { group: r.params.group });
    managed();
    const g = groupOr404(r.params.group);
    const body = objectBody(r);
    if (!Array.isArray(body.users) || body.users.length === 0) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'Must specify users to add or remove');
    const list = usersOf(body.users);
    hub.stores.db.transaction(() => {
      for (const u of list) (add ? groups.addMember(g.id, u.id) : groups.removeMember(g.id, u.id));
    })();
    return groupModel(hub, ident, g);
  };
  app.post<{ Params: P }>('/api/groups/:group/users', members(true));
  app.delete<{ Params: P }>('/api/groups/:group/users', members(false));
}
