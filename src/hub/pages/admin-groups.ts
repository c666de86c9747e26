/**
 * Groups on the admin page: list (searched and paged), create, rename, delete, add and remove
 * members. When the authenticator manages groups (authenticator.manageGroups), membership comes
 * from the identity provider at each login, so the pages show it read-only, as the API refuses.
 */
import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../context.js';
import type { GroupRow, UserRow } from '../db/index.js';
import { xsrfToken } from '../auth/session.js';
import { atriumError } from '../errors.js';
import { escapePath } from '../spawn/env.js';
import { esc, renderPage } from './layout.js';
import { redirect } from './safe-redirect.js';
import { renderThrown } from './error-page.js';
import { searchGroups } from '../db/user-search.js';
import { isValidGroupName } from '../api/groups.js';
import { adminAction, adminViewer, str } from './admin-guard.js';
import { CONFIRM } from './home.js';

type P = { group: string };
const PER_PAGE = 50;
const MEMBERS_SHOWN = 1000;

function groupOr404(hub: HubContext, name: string): GroupRow {
  const g = hub.stores.groups.get(name);
  if (!g) throw atriumError('ATRIUM_ERR_GROUP_NOT_FOUND', `No group named ${name.slice(0, 80)}.`);
  return g;
}

function checkedGroupName(hub: HubContext, v: unknown, except?: GroupRow): string {
  const name = str(v).trim();
  if (!isValidGroupName(name)) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'A group name is 1 to 255 characters, without "/" or control characters.');
  if (name !== except?.name && hub.stores.groups.get(name)) throw atriumError('ATRIUM_ERR_GROUP_EXISTS', `Group ${name} already exists`);
  return name;
}

/** User names from a textarea (spaces, commas or new lines); every one must exist. */
function usersFrom(hub: HubContext, v: unknown): UserRow[] {
  const names = [...new Set(str(v).split(/[\s,]+/).filter(Boolean))].slice(0, 1000);
  return names.map((n) => {
    const u = hub.stores.users.get(n);
    if (!u) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `No such user: ${n.slice(0, 80)}`);
    return u;
  });
}

export async function adminGroupPages(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  const H = () => esc(hub.urls.hub);
  const managed = () => hub.config.authenticator.manageGroups;
  const refuseManaged = () => {
    if (managed()) throw atriumError('ATRIUM_ERR_GROUP_MANAGED');
  };
  const groupUrl = (name: string) => `${hub.urls.hub}admin/groups/${escapePath(name)}`;

  app.get('/admin/groups', async (req, reply) => {
    const me = await adminViewer(hub, req, reply);
    if (!me) return reply;
    const query = req.query as Record<string, unknown>;
    const q = str(query.q).trim().slice(0, 255);
    const page = /^\d{1,6}$/.test(str(query.page)) ? Math.max(1, Number(query.page)) : 1;
    const xsrf = xsrfToken(hub, req, reply);
    const hidden = `<input type="hidden" name="_xsrf" value="${esc(xsrf)}">`;
    const { rows, total } = searchGroups(hub.stores.db, q, (page - 1) * PER_PAGE, PER_PAGE);
    const pages = Math.max(1, Math.ceil(total / PER_PAGE));
    const link = (p: number) => `${H()}admin/groups?${esc(new URLSearchParams({ ...(q ? { q } : {}), page: String(p) }).toString())}`;
    const list = rows.length
      ? `<table id="groups"><thead><tr><th>Group</th><th>Members</th></tr></thead><tbody>${rows.map((g) =>
        `<tr data-group="${esc(g.name)}"><td><a href="${esc(groupUrl(g.name))}">${esc(g.name)}</a></td><td>${g.members}</td></tr>`).join('')}</tbody></table>`
      : `<p class="muted">${q ? 'No group matches.' : 'No groups yet.'}</p>`;
    return renderPage(hub, reply, 'Groups', `<div class="card"><h1>Groups</h1>
      <p><a class="button" href="${H()}admin">Users</a></p>
      <form method="get" action="${H()}admin/groups" role="search"><label for="q">Search groups</label><input id="q" name="q" value="${esc(q)}"><p><button type="submit">Search</button></p></form>
      <p class="muted">${total} group${total === 1 ? '' : 's'} · page ${page} of ${pages}
      ${page > 1 ? `<a class="button" rel="prev" href="${link(page - 1)}">Previous</a>` : ''}${page < pages ? `<a class="button" rel="next" href="${link(page + 1)}">Next</a>` : ''}</p>
      ${list}</div>
      ${managed() ? '<div class="card"><p class="muted">Groups are managed by the authenticator (authenticator.manageGroups): they change at each login, not here.</p></div>'
      : `<div class="card"><h2>New group</h2><form method="post" action="${H()}admin/groups">${hidden}
      <label for="group-name">Name</label><input id="group-name" name="name" required maxlength="255">
      <label for="group-members">Members (user names, optional)</label><textarea id="group-members" name="users" rows="2" style="width:100%"></textarea>
      <p><button class="primary" type="submit">Create group</button></p></form></div>`}`, me);
  });

  app.post('/admin/groups', async (req, reply) => {
    const ctx = await adminAction(hub, req, reply, 'admin:groups');
    if (!ctx) return reply;
    let name = '';
    try {
      refuseManaged();
      name = checkedGroupName(hub, ctx.body.name);
      const members = usersFrom(hub, ctx.body.users);
      hub.stores.db.transaction(() => {
        const g = hub.stores.groups.create(name);
        for (const u of members) hub.stores.groups.addMember(g.id, u.id);
      })();
      hub.log.info({ admin: ctx.me.name, group: name }, 'admin created a group');
    } catch (err) {
      return renderThrown(hub, reply, err, ctx.me);
    }
    return redirect(reply, groupUrl(name), 303);
  });

  app.get<{ Params: P }>('/admin/groups/:group', async (req, reply) => {
    const me = await adminViewer(hub, req, reply);
    if (!me) return reply;
    let g: GroupRow;
    try {
      g = groupOr404(hub, req.params.group);
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
    const xsrf = xsrfToken(hub, req, reply);
    const hidden = `<input type="hidden" name="_xsrf" value="${esc(xsrf)}">`;
    const base = esc(groupUrl(g.name));
    const members = hub.stores.groups.members(g.id);
    const ro = managed();
    const rows = members.slice(0, MEMBERS_SHOWN).map((m) => `<tr data-member="${esc(m)}"><td><a href="${H()}admin/users/${esc(escapePath(m))}">${esc(m)}</a></td><td>${ro ? ''
      : `<form class="inline" method="post" action="${base}/remove">${hidden}<input type="hidden" name="user" value="${esc(m)}"><button type="submit">Remove</button></form>`}</td></tr>`).join('');
    const more = members.length > MEMBERS_SHOWN ? `<p class="muted">${members.length - MEMBERS_SHOWN} more members are not listed; the API lists them all.</p>` : '';
    return renderPage(hub, reply, `Group ${g.name}`, `<div class="card"><h1>Group ${esc(g.name)}</h1>
      <p><a class="button" href="${H()}admin/groups">All groups</a></p>
      <h2>Members (${members.length})</h2>
      ${members.length ? `<table id="members"><tbody>${rows}</tbody></table>${more}` : '<p class="muted">No members.</p>'}
      ${ro ? '<p class="muted">Managed by the authenticator: read-only here.</p>' : `<form method="post" action="${base}/add">${hidden}
        <label for="add-users">Add members (user names separated by spaces, commas or new lines)</label><textarea id="add-users" name="users" rows="2" style="width:100%" required></textarea>
        <p><button type="submit">Add</button></p></form></div>
      <div class="card"><h2>Rename</h2><form method="post" action="${base}/rename">${hidden}
        <label for="new-name">New name</label><input id="new-name" name="name" value="${esc(g.name)}" required maxlength="255">
        <p><button type="submit">Rename</button></p></form></div>
      <div class="card"><h2>Delete</h2><p>Deleting the group does not delete its members.</p>
        <form method="post" action="${base}/delete" ${CONFIRM(`Delete the group ${g.name}?`)}>${hidden}<button class="danger" type="submit" id="delete-group">Delete group</button></form>`}</div>`, me);
  });

  /** One POST per change; every one needs the group-admin scope for this group. */
  const change = (what: string, scope: string, act: (g: GroupRow, body: Record<string, unknown>) => string | null) =>
    app.post<{ Params: P }>(`/admin/groups/:group/${what}`, async (req, reply) => {
      const ctx = await adminAction(hub, req, reply, scope, { group: req.params.group });
      if (!ctx) return reply;
      let next: string | null;
      try {
        refuseManaged();
        next = act(groupOr404(hub, req.params.group), ctx.body);
        hub.log.info({ admin: ctx.me.name, group: req.params.group, change: what }, 'admin changed a group');
      } catch (err) {
        return renderThrown(hub, reply, err, ctx.me);
      }
      return redirect(reply, next ?? groupUrl(req.params.group), 303);
    });

  change('add', 'groups', (g, body) => {
    const users = usersFrom(hub, body.users);
    if (!users.length) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'Name at least one user to add.');
    hub.stores.db.transaction(() => users.forEach((u) => hub.stores.groups.addMember(g.id, u.id)))();
    return null;
  });
  change('remove', 'groups', (g, body) => {
    const u = hub.stores.users.get(str(body.user));
    if (!u) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `No such user: ${str(body.user).slice(0, 80)}`);
    hub.stores.groups.removeMember(g.id, u.id);
    return null;
  });
  change('rename', 'admin:groups', (g, body) => {
    const name = checkedGroupName(hub, body.name, g);
    hub.stores.groups.rename(g.id, name);
    return groupUrl(name);
  });
  change('delete', 'delete:groups', (g) => {
    hub.stores.groups.delete(g.id);
    return `${hub.urls.hub}admin/groups`;
  });
}
