/**
 * The admin page: users and their servers, searched, sorted and paged by SQLite (usable with
 * 10,000 users), start/stop/delete per server, start all on the page, stop all, add users and
 * shut down the hub. Starting another user's server keeps the admin here (the row goes
 * starting → running) instead of sending them through that server's OAuth consent page.
 * Users are edited on admin-users.ts, groups on admin-groups.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { xsrfToken } from '../auth/session.js';
import { checkedUsername } from '../auth/pipeline.js';
import { renderThrown } from './error-page.js';
import { atriumError } from '../errors.js';
import { escapePath, serverPrefix } from '../spawn/env.js';
import { ago, esc, renderPage } from './layout.js';
import { redirect } from './safe-redirect.js';
import { isValidServerName } from '../../shared/names.js';
import { checkServerNameFor } from '../api/server-name.js';
import { searchUsers, USER_SORTS, type UserSort } from '../db/user-search.js';
import { removeNamedServer } from '../spawn/server-lifecycle.js';
import { adminAction, adminViewer, holds, str } from './admin-guard.js';
import { CONFIRM, LEGACY_NAME } from './home.js';
import { adminUserPages } from './admin-users.js';
import { adminGroupPages } from './admin-groups.js';

export const PAGE_SIZES = [25, 50, 100, 200];

/** What the admin is looking at; parsed leniently (a bad value falls back to the default). */
export interface AdminView {
  q: string;
  sort: UserSort;
  desc: boolean;
  page: number;
  per: number;
}

export function parseView(p: URLSearchParams | Record<string, unknown>): AdminView {
  const get = (k: string) => (p instanceof URLSearchParams ? p.get(k) : typeof p[k] === 'string' ? (p[k] as string) : null) ?? '';
  const sort = (USER_SORTS as readonly string[]).includes(get('sort')) ? (get('sort') as UserSort) : 'name';
  const page = /^\d{1,6}$/.test(get('page')) ? Math.max(1, Number(get('page'))) : 1;
  const per = PAGE_SIZES.includes(Number(get('per'))) ? Number(get('per')) : 50;
  return { q: get('q').trim().slice(0, 255), sort, desc: get('dir') === 'desc', page, per };
}

export function viewQuery(v: AdminView, change: Partial<AdminView> = {}): string {
  const x = { ...v, ...change };
  const p = new URLSearchParams();
  if (x.q) p.set('q', x.q);
  if (x.sort !== 'name') p.set('sort', x.sort);
  if (x.desc) p.set('dir', 'desc');
  if (x.page > 1) p.set('page', String(x.page));
  if (x.per !== 50) p.set('per', String(x.per));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** The view a form came from (hidden field `view`), rebuilt from parsed values: never an open redirect. */
export function backTo(hub: HubContext, body: Record<string, unknown>): string {
  return `${hub.urls.hub}admin${viewQuery(parseView(new URLSearchParams(str(body.view))))}`;
}

const STATUS_POLL = `<script>
// While a row is starting or stopping, re-read this page and swap in the table: the admin stays here.
(function () {
  var tries = 0;
  function tick() {
    if (!document.querySelector('tr[data-pending]') || tries++ > 400) return;
    fetch(location.href, { credentials: 'same-origin' }).then(function (r) { return r.text(); }).then(function (t) {
      var fresh = new DOMParser().parseFromString(t, 'text/html').querySelector('#users tbody');
      var old = document.querySelector('#users tbody');
      if (fresh && old) old.replaceWith(fresh);
      setTimeout(tick, 1000);
    }).catch(function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 1000);
})();
</script>`;

/** A JSON string literal safe inside a script element. */
const jsString = (v: string) => JSON.stringify(v).replace(/</g, '\\u003c');

function shutdownScript(hub: HubContext, xsrf: string): string {
  return `<script>
(function () {
  var b = document.getElementById('shutdown');
  if (!b) return;
  b.addEventListener('click', function () {
    if (!confirm('Shut down the hub? Users cannot log in or start servers until it is started again; running servers keep running.')) return;
    b.disabled = true;
    fetch(${jsString(`${hub.urls.hub}api/shutdown`)}, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-XSRFToken': ${jsString(xsrf)} }, body: '{}'
    }).then(function (r) {
      document.getElementById('shutdown-status').textContent = r.status === 202 ? 'The hub is shutting down.' : 'Shutdown refused (' + r.status + ').';
    }).catch(function () { document.getElementById('shutdown-status').textContent = 'The hub is shutting down.'; });
  });
})();
</script>`;
}

export async function adminPages(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  const H = () => esc(hub.urls.hub);
  await app.register(adminUserPages);
  await app.register(adminGroupPages);

  function serverRows(me: UserRow, u: UserRow, hidden: string): string {
    const servers = hub.stores.servers.ofUser(u.id);
    if (!servers.some((s) => s.name === '')) servers.unshift({ name: '', last_activity: null, display_name: null } as (typeof servers)[number]);
    return servers.map((s, i) => {
      const n = s.name;
      const a = hub.spawns.get(u.name, n);
      const failure = !a ? hub.spawns.failures.get(`${u.name}/${n}`) : undefined;
      const path = `${esc(escapePath(u.name))}${n ? '/' + esc(escapePath(n)) : ''}`;
      const status = a
        ? a.phase === 'running' ? '<span class="ok">running</span>' : a.phase === 'spawn' ? 'starting…' : 'stopping…'
        : failure ? `<span class="error">failed</span> <span class="muted">${esc(failure.message.slice(0, 200))}</span>` : '<span class="muted">stopped</span>';
      const act = (what: string, label: string, cls: string, confirmText?: string) =>
        `<form class="inline" method="post" action="${H()}admin/${what}/${path}"${confirmText ? ' ' + CONFIRM(confirmText) : ''}>${hidden}<button class="${cls}" type="submit">${label}</button></form>`;
      let actions = '';
      if (a?.phase === 'running') actions = `<a class="button" href="${esc(serverPrefix(hub, u.name, n))}">Open</a>${act('stop', 'Stop', 'danger')}`;
      else if (!a) actions = n && !isValidServerName(n) ? LEGACY_NAME : act('spawn', 'Start', 'primary');
      if (n && a?.phase !== 'spawn' && holds(hub, me, 'delete:servers', { server: `${u.name}/${n}` })) {
        actions += act('delete-server', 'Delete', 'danger', `Delete ${u.name}'s server "${n}"? It is stopped first.`);
      }
      const userCell = i === 0
        ? `<td><a href="${H()}admin/users/${esc(escapePath(u.name))}" title="Edit ${esc(u.name)}">${esc(u.name)}</a></td><td>${u.admin ? 'admin' : ''}</td>`
        : '<td></td><td></td>';
      const server = n ? `${esc(s.display_name ?? n)}${s.display_name ? ` <span class="muted">(${esc(n)})</span>` : ''}` : 'default';
      const pending = a && a.phase !== 'running' ? ' data-pending="1"' : '';
      return `<tr data-user="${esc(u.name)}" data-server="${esc(n)}"${pending}>${userCell}<td>${server}</td><td class="status">${status}</td><td class="muted">${ago(s.last_activity)}</td><td>${actions}</td></tr>`;
    }).join('');
  }

  app.get('/admin', async (req, reply) => {
    const t0 = process.hrtime.bigint();
    const me = await adminViewer(hub, req, reply);
    if (!me) return reply;
    const view = parseView(req.query as Record<string, unknown>);
    const xsrf = xsrfToken(hub, req, reply);
    const viewField = `<input type="hidden" name="view" value="${esc(viewQuery(view).slice(1))}">`;
    const hidden = `<input type="hidden" name="_xsrf" value="${esc(xsrf)}">${viewField}`;
    const { rows, total } = searchUsers(hub.stores.db, { q: view.q, sort: view.sort, desc: view.desc, offset: (view.page - 1) * view.per, limit: view.per });
    const body = rows.map((u) => serverRows(me, u, hidden)).join('');
    const pages = Math.max(1, Math.ceil(total / view.per));
    const head = (key: UserSort, label: string) => {
      const active = view.sort === key;
      const aria = active ? ` aria-sort="${view.desc ? 'descending' : 'ascending'}"` : '';
      const href = `${H()}admin${esc(viewQuery(view, { sort: key, desc: active ? !view.desc : key === 'activity' || key === 'running', page: 1 }))}`;
      return `<th${aria}><a href="${href}" data-sort="${key}">${label}${active ? (view.desc ? ' ▼' : ' ▲') : ''}</a></th>`;
    };
    const first = total === 0 ? 0 : (view.page - 1) * view.per + 1;
    const last = Math.min(total, view.page * view.per);
    const nav = `<p class="muted" id="paging">${first.toLocaleString('en')}–${last.toLocaleString('en')} of ${total.toLocaleString('en')} user${total === 1 ? '' : 's'}${view.q ? ` matching “${esc(view.q)}”` : ''} · page ${view.page} of ${pages}
      ${view.page > 1 ? `<a class="button" rel="prev" href="${H()}admin${esc(viewQuery(view, { page: view.page - 1 }))}">Previous</a>` : ''}
      ${view.page < pages ? `<a class="button" rel="next" href="${H()}admin${esc(viewQuery(view, { page: view.page + 1 }))}">Next</a>` : ''}</p>`;
    // One row on a wide screen, wrapping on a phone.
    const search = `<form method="get" action="${H()}admin" role="search" style="display:flex;flex-wrap:wrap;gap:0 .75rem;align-items:flex-end">
      <div style="flex:1 1 14rem"><label for="q">Search users</label><input id="q" name="q" value="${esc(view.q)}" placeholder="part of a name" autocomplete="off"></div>
      ${view.sort !== 'name' ? `<input type="hidden" name="sort" value="${esc(view.sort)}">` : ''}${view.desc ? '<input type="hidden" name="dir" value="desc">' : ''}
      <div style="flex:0 0 6rem"><label for="per">Per page</label><select id="per" name="per">${PAGE_SIZES.map((n) => `<option${n === view.per ? ' selected' : ''}>${n}</option>`).join('')}</select></div>
      <div><button type="submit">Search</button>${view.q ? ` <a class="button" href="${H()}admin">Clear</a>` : ''}</div></form>`;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    reply.header('Server-Timing', `admin;dur=${ms.toFixed(1)}`);
    return renderPage(hub, reply, 'Admin', `<div class="card"><h1>Users and servers</h1>
      <p><a class="button" href="${H()}admin/groups">Groups</a></p>
      ${search}${nav}
      <table id="users"><thead><tr>${head('name', 'User')}${head('admin', 'Admin')}<th>Server</th>${head('running', 'Status')}${head('activity', 'Last activity')}<th></th></tr></thead><tbody>${body}</tbody></table>
      ${nav.replace('id="paging"', '')}
      <form class="inline" method="post" action="${H()}admin/start-all" ${CONFIRM('Start the default server of every user on this page?')}>${hidden}<button type="submit">Start all on this page</button></form>
      <form class="inline" method="post" action="${H()}admin/stop-all" ${CONFIRM('Stop every running server of every user?')}>${hidden}<button class="danger" type="submit">Stop all servers</button></form></div>
      <div class="card"><h2>Add users</h2><form method="post" action="${H()}admin/users">${hidden}
      <label for="names">User names (one per line)</label><textarea id="names" name="usernames" rows="3" style="width:100%"></textarea>
      <label><input type="checkbox" name="admin" value="1"> Administrators</label>
      <p><button class="primary" type="submit">Add</button></p></form></div>
      ${holds(hub, me, 'shutdown') ? `<div class="card"><h2>Hub</h2><p>Shutting down stops the hub process; a service manager (systemd, compose) starts it again. Running servers and the proxy keep running.</p>
      <button class="danger" id="shutdown" type="button">Shut down the hub</button> <span id="shutdown-status" role="status"></span></div>${shutdownScript(hub, xsrf)}` : ''}
      ${STATUS_POLL}`, me);
  });

  type SP = { user: string; server?: string };

  /**
   * The frame every per-server button shares: scope and CSRF check, the user looked up, the server
   * name checked, then `act`; a refusal becomes a page and success returns to the same admin view.
   */
  const serverAction = (scope: string, check: 'start' | 'stop', act: (user: UserRow, server: string, admin: string) => Promise<void>) =>
    async (req: FastifyRequest<{ Params: SP }>, reply: FastifyReply) => {
      const server = req.params.server ?? '';
      const ctx = await adminAction(hub, req, reply, scope, { server: `${req.params.user}/${server}` });
      if (!ctx) return reply;
      try {
        const user = hub.stores.users.get(req.params.user);
        if (!user) throw atriumError('ATRIUM_ERR_USER_NOT_FOUND');
        checkServerNameFor(hub, user, server, check);
        await act(user, server, ctx.me.name);
      } catch (err) {
        return renderThrown(hub, reply, err, ctx.me);
      }
      return redirect(reply, backTo(hub, ctx.body), 303);
    };

  /** Start one server for another user; the admin comes back to the same view of this page. */
  const spawnPost = serverAction('servers', 'start', async (user, server, admin) => {
    const p = hub.spawns.spawn(user, server, null);
    p.catch(() => undefined);
    // Refusals (limits, already running) arrive at once and become a page; a slow start goes on.
    await Promise.race([p, new Promise((r) => setTimeout(r, 50))]);
    hub.log.info({ admin, user: user.name, server }, 'admin started a server');
  });

  const stopPost = serverAction('servers', 'stop', async (user, server) => {
    await hub.spawns.stop(user, server);
  });

  app.post('/admin/spawn/:user', spawnPost);
  app.post('/admin/spawn/:user/:server', spawnPost);
  app.post('/admin/stop/:user', stopPost);
  app.post('/admin/stop/:user/:server', stopPost);
  app.post('/admin/delete-server/:user/:server', serverAction('delete:servers', 'stop', async (user, server, admin) => {
    await removeNamedServer(hub, user, server);
    hub.log.info({ admin, user: user.name, server }, 'admin deleted a named server');
  }));

  app.post('/admin/start-all', async (req, reply) => {
    const ctx = await adminAction(hub, req, reply, 'admin:servers');
    if (!ctx) return reply;
    const view = parseView(new URLSearchParams(str(ctx.body.view)));
    const { rows } = searchUsers(hub.stores.db, { q: view.q, sort: view.sort, desc: view.desc, offset: (view.page - 1) * view.per, limit: view.per });
    let started = 0;
    let refused = 0;
    for (const u of rows) {
      if (hub.spawns.get(u.name, '')) continue;
      // One at a time through the same gate as any spawn: the concurrent-spawn limit refuses the
      // surplus with a clear reason instead of the page overloading the backend.
      const p = hub.spawns.spawn(u, '', null);
      p.catch(() => undefined);
      const r = await Promise.race([p.then(() => 'ok', () => 'refused'), new Promise((res) => setTimeout(() => res('ok'), 20))]);
      if (r === 'ok') started++;
      else refused++;
    }
    hub.log.info({ admin: ctx.me.name, started, refused }, 'admin started all servers on a page');
    return redirect(reply, backTo(hub, ctx.body), 303);
  });

  app.post('/admin/stop-all', async (req, reply) => {
    const ctx = await adminAction(hub, req, reply, 'admin:servers');
    if (!ctx) return reply;
    const running = [...hub.spawns.active.values()].filter((a) => a.phase === 'running');
    await Promise.allSettled(running.map((a) => {
      const u = hub.stores.users.getById(a.userId);
      return u ? hub.spawns.stop(u, a.serverName) : Promise.resolve();
    }));
    hub.log.info({ admin: ctx.me.name, count: running.length }, 'admin stopped all servers');
    return redirect(reply, backTo(hub, ctx.body), 303);
  });

  app.post('/admin/users', async (req, reply) => {
    const ctx = await adminAction(hub, req, reply, 'admin:users');
    if (!ctx) return reply;
    const raw = str(ctx.body.usernames);
    try {
      const names = raw.split(/[\s,]+/).filter(Boolean).slice(0, 500).map((n) => checkedUsername(hub, n));
      for (const n of names) if (!hub.stores.users.get(n)) hub.stores.users.create(n, ctx.body.admin === '1');
    } catch (err) {
      return renderThrown(hub, reply, err, ctx.me);
    }
    return redirect(reply, backTo(hub, ctx.body), 303);
  });
}
