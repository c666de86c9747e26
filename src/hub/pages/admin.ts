/** The admin page: every user and server, start/stop, stop all, add users. Admins only. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { checkXsrf, xsrfToken } from '../auth/session.js';
import { checkedUsername } from '../auth/pipeline.js';
import { renderThrown } from './error-page.js';
import { atriumError } from '../errors.js';
import { escapePath, serverPrefix } from '../spawn/env.js';
import { ago, esc, renderPage } from './layout.js';
import { pageUser, redirectToLogin } from './login.js';
import { redirect } from './safe-redirect.js';
import { isValidServerName } from '../../shared/names.js';

/** A row named before the server-name rule: it may be stopped or deleted (API), not started. */
export const LEGACY_NAME = '<span class="muted">name predates the naming rule: stop or delete only</span>';

export async function adminPages(app: FastifyInstance): Promise<void> {
  const hub = app.hub;

  async function admin(req: FastifyRequest, reply: FastifyReply) {
    const me = await pageUser(hub, req, reply);
    if (!me) {
      redirectToLogin(hub, req, reply);
      return null;
    }
    if (!me.admin) {
      renderThrown(hub, reply, atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', 'The admin page is for administrators.'), me);
      return null;
    }
    return me;
  }

  app.get('/admin', async (req, reply) => {
    const me = await admin(req, reply);
    if (!me) return reply;
    const xsrf = xsrfToken(hub, req, reply);
    const h = esc(hub.urls.hub);
    const hidden = `<input type="hidden" name="_xsrf" value="${esc(xsrf)}">`;
    const rows = hub.stores.users.list({ limit: 1000 }).map((u) => {
      const servers = hub.stores.servers.ofUser(u.id);
      const names = servers.length ? servers.map((s) => s.name) : [''];
      return names.map((n, i) => {
        const a = hub.spawns.get(u.name, n);
        const path = `${esc(escapePath(u.name))}${n ? '/' + esc(escapePath(n)) : ''}`;
        const status = a ? esc(a.phase === 'running' ? 'running' : a.phase === 'spawn' ? 'starting' : 'stopping') : 'stopped';
        const action = a?.phase === 'running'
          ? `<a class="button" href="${esc(serverPrefix(hub, u.name, n))}">Open</a><form class="inline" method="post" action="${h}stop/${path}">${hidden}<button class="danger">Stop</button></form>`
          : a ? ''
          : n && !isValidServerName(n) ? LEGACY_NAME
          : `<form class="inline" method="post" action="${h}spawn/${path}">${hidden}<button class="primary">Start</button></form>`;
        return `<tr><td>${i === 0 ? esc(u.name) + (u.admin ? ' <span class="muted">(admin)</span>' : '') : ''}</td><td>${n ? esc(n) : 'default'}</td><td>${status}</td><td class="muted">${ago(u.last_activity)}</td><td>${action}</td></tr>`;
      }).join('');
    }).join('');
    return renderPage(hub, reply, 'Admin', `<div class="card"><h1>Users and servers</h1>
      <table><thead><tr><th>User</th><th>Server</th><th>Status</th><th>Last activity</th><th></th></tr></thead><tbody>${rows}</tbody></table>
      <form method="post" action="${h}admin/stop-all">${hidden}<button class="danger" type="submit">Stop all servers</button></form></div>
      <div class="card"><h2>Add users</h2><form method="post" action="${h}admin/users">${hidden}
      <label for="names">User names (one per line)</label><textarea id="names" name="usernames" rows="3" style="width:100%"></textarea>
      <label><input type="checkbox" name="admin" value="1"> Administrators</label>
      <p><button class="primary" type="submit">Add</button></p></form></div>`, me);
  });

  app.post('/admin/stop-all', async (req, reply) => {
    const me = await admin(req, reply);
    if (!me) return reply;
    checkXsrf(hub, req, (req.body as Record<string, unknown> | undefined)?._xsrf);
    const running = [...hub.spawns.active.values()].filter((a) => a.phase === 'running');
    await Promise.allSettled(running.map((a) => {
      const u = hub.stores.users.getById(a.userId);
      return u ? hub.spawns.stop(u, a.serverName) : Promise.resolve();
    }));
    hub.log.info({ admin: me.name, count: running.length }, 'admin stopped all servers');
    return redirect(reply, `${hub.urls.hub}admin`, 303);
  });

  app.post('/admin/users', async (req, reply) => {
    const me = await admin(req, reply);
    if (!me) return reply;
    const body = (req.body ?? {}) as Record<string, unknown>;
    checkXsrf(hub, req, body._xsrf);
    const raw = typeof body.usernames === 'string' ? body.usernames : '';
    try {
      const names = raw.split(/[\s,]+/).filter(Boolean).slice(0, 500).map((n) => checkedUsername(hub, n));
      for (const n of names) if (!hub.stores.users.get(n)) hub.stores.users.create(n, body.admin === '1');
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
    return redirect(reply, `${hub.urls.hub}admin`, 303);
  });
}
