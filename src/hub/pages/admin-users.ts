/**
 * Edit one user from the admin page: rename (refused when the name is taken or a server is
 * active), the admin flag, group membership at a glance, and delete (servers stopped first).
 */
import type { FastifyInstance } from 'fastify';
import { xsrfToken } from '../auth/session.js';
import { checkedUsername } from '../auth/pipeline.js';
import { atriumError } from '../errors.js';
import { escapePath } from '../spawn/env.js';
import { ago, esc, renderPage } from './layout.js';
import { redirect } from './safe-redirect.js';
import { renderThrown } from './error-page.js';
import { removeUser, renameUser } from '../spawn/server-lifecycle.js';
import { adminAction, adminViewer, holds } from './admin-guard.js';
import { CONFIRM } from './home.js';

type P = { name: string };

export async function adminUserPages(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  const H = () => esc(hub.urls.hub);

  app.get<{ Params: P }>('/admin/users/:name', async (req, reply) => {
    const me = await adminViewer(hub, req, reply);
    if (!me) return reply;
    const u = hub.stores.users.get(req.params.name);
    if (!u) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_USER_NOT_FOUND', `No user named ${req.params.name.slice(0, 80)}.`), me);
    const xsrf = xsrfToken(hub, req, reply);
    const hidden = `<input type="hidden" name="_xsrf" value="${esc(xsrf)}">`;
    const base = `${H()}admin/users/${esc(escapePath(u.name))}`;
    const groups = hub.stores.groups.groupsOf(u.id);
    const servers = hub.stores.servers.ofUser(u.id);
    const active = servers.filter((s) => hub.spawns.get(u.name, s.name));
    const serverList = servers.length
      ? `<ul>${servers.map((s) => `<li>${s.name ? esc(s.name) : 'default'}${s.display_name ? ` (${esc(s.display_name)})` : ''}: ${hub.spawns.get(u.name, s.name) ? 'active' : 'stopped'}, last activity ${ago(s.last_activity)}</li>`).join('')}</ul>`
      : '<p class="muted">No servers yet.</p>';
    const self = u.id === me.id;
    return renderPage(hub, reply, `Edit ${u.name}`, `<div class="card"><h1>Edit user ${esc(u.name)}</h1>
      <p class="muted">Created ${ago(u.created)} · last activity ${ago(u.last_activity)}</p>
      <form method="post" action="${base}">${hidden}
        <label for="name">Name</label><input id="name" name="name" value="${esc(u.name)}" required maxlength="255">
        ${active.length ? '<p class="muted">Stop this user\'s servers before renaming them.</p>' : ''}
        <label><input type="checkbox" id="admin" name="admin" value="1"${u.admin ? ' checked' : ''}> Administrator</label>
        <input type="hidden" name="admin_field" value="1">
        <p><button class="primary" type="submit">Save</button> <a class="button" href="${H()}admin">Back to users</a></p>
      </form></div>
      <div class="card"><h2>Groups</h2>${groups.length ? `<ul>${groups.map((g) => `<li><a href="${H()}admin/groups/${esc(escapePath(g))}">${esc(g)}</a></li>`).join('')}</ul>` : '<p class="muted">In no group.</p>'}</div>
      <div class="card"><h2>Servers</h2>${serverList}</div>
      ${self || !holds(hub, me, 'delete:users', { user: u.name }) ? '' : `<div class="card"><h2>Delete</h2><p>Deleting ${esc(u.name)} stops their servers and removes their tokens and server records. Files in their home folder stay.</p>
      <form method="post" action="${base}/delete" ${CONFIRM(`Delete the user ${u.name}? Their servers are stopped first.`)}>${hidden}<button class="danger" type="submit" id="delete-user">Delete user</button></form></div>`}`, me);
  });

  app.post<{ Params: P }>('/admin/users/:name', async (req, reply) => {
    const ctx = await adminAction(hub, req, reply, 'admin:users', { user: req.params.name });
    if (!ctx) return reply;
    const { me, body } = ctx;
    let target = req.params.name;
    try {
      const u = hub.stores.users.get(req.params.name);
      if (!u) throw atriumError('ATRIUM_ERR_USER_NOT_FOUND');
      const newName = typeof body.name === 'string' && body.name.trim() ? checkedUsername(hub, body.name.trim()) : u.name;
      const admin = body.admin === '1';
      if (body.admin_field === '1' && u.id === me.id && !admin) {
        // The admin would lose this page mid-edit; another admin can do it.
        throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'You cannot remove your own administrator flag here.');
      }
      hub.stores.db.transaction(() => {
        renameUser(hub, u, newName);
        if (body.admin_field === '1') hub.stores.users.setAdmin(u.id, admin);
      })();
      target = newName;
      hub.log.info({ admin: me.name, user: u.name, name: newName, isAdmin: admin }, 'admin edited a user');
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
    return redirect(reply, `${hub.urls.hub}admin/users/${escapePath(target)}`, 303);
  });

  app.post<{ Params: P }>('/admin/users/:name/delete', async (req, reply) => {
    const ctx = await adminAction(hub, req, reply, 'delete:users', { user: req.params.name });
    if (!ctx) return reply;
    try {
      const u = hub.stores.users.get(req.params.name);
      if (!u) throw atriumError('ATRIUM_ERR_USER_NOT_FOUND');
      if (u.id === ctx.me.id) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'You cannot delete yourself.');
      await removeUser(hub, u);
      hub.log.info({ admin: ctx.me.name, user: u.name }, 'admin deleted a user');
    } catch (err) {
      return renderThrown(hub, reply, err, ctx.me);
    }
    return redirect(reply, `${hub.urls.hub}admin`, 303);
  });
}
