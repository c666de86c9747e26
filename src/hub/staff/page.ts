/**
 * The staff page (/hub/staff): image preloads with live per-node progress, the environment
 * catalogue, the servers of one's course groups with start/stop, and warm starts. For admins and
 * teaching staff; every action is checked with the same scopes as the REST API, and every form
 * carries the session-bound XSRF token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { checkXsrf, xsrfToken } from '../auth/session.js';
import { userScopes, type Identity } from '../auth/identity.js';
import { atriumError } from '../errors.js';
import { ago, esc, renderPage } from '../pages/layout.js';
import { pageUser, redirectToLogin } from '../pages/login.js';
import { renderThrown } from '../pages/error-page.js';
import { redirect } from '../pages/safe-redirect.js';
import { environmentsOf } from '../environments/catalogue.js';
import { manageable, saveEnvironment } from '../environments/api.js';
import { preloadsOf, requirePreloads } from '../images/registry.js';
import { staffGroupsOf, staffScopes } from './role.js';
import { mayRunGroup, visibleGroups } from './api.js';
import { warmOf } from './warm.js';

function pageIdentity(hub: HubContext, user: UserRow): Identity {
  return { user, via: 'cookie', scopes: userScopes(user, staffScopes(hub.config, user.name)), sessionId: null };
}

/** Groups this person looks after on the page: their course groups, or every group for admins. */
function groupsFor(hub: HubContext, user: UserRow): string[] {
  return user.admin ? hub.stores.groups.list().map((g) => g.name) : staffGroupsOf(hub.config, user.name);
}

const POLL_SCRIPT = (api: string) => `<script>
(function () {
  var body = document.getElementById('preload-rows');
  if (!body) return;
  function esc(s) { return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); }
  function mb(n) { return (n / 1048576).toFixed(1) + ' MB'; }
  function render(list) {
    body.innerHTML = list.map(function (p) {
      var nodes = p.nodes.map(function (n) {
        var bytes = n.status === 'pulling' ? ' ' + mb(n.bytesDone) + (n.bytesTotal ? ' of ' + mb(n.bytesTotal) : '') : '';
        return '<li data-node="' + esc(n.hostname) + '" data-status="' + esc(n.status) + '">' + esc(n.hostname) + ': <b>' + esc(n.status) + '</b>' + esc(bytes) + (n.status === 'failed' || n.status === 'skipped' ? ' <span class="muted">' + esc(n.message) + '</span>' : '') + '</li>';
      }).join('');
      return '<tr data-image="' + esc(p.image) + '"><td><code>' + esc(p.image) + '</code>' + (p.continuous ? ' <span class="muted">(continuous)</span>' : '') + (p.resumed ? ' <span class="muted resumed">resumed after a hub restart at ' + esc(p.resumed) + '</span>' : '') + '</td><td class="ready">ready on ' + p.ready + '/' + p.total + ' nodes</td><td><ul>' + nodes + '</ul></td></tr>';
    }).join('') || '<tr><td colspan="3" class="muted">No preloads yet.</td></tr>';
  }
  function poll() {
    fetch(${JSON.stringify(api)}, { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) { if (j) render(j.preloads); }).catch(function () {}).then(function () { setTimeout(poll, 1000); });
  }
  poll();
})();
</script>`;

export async function staffPages(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  const h = hub.urls.hub;

  async function staff(req: FastifyRequest, reply: FastifyReply): Promise<UserRow | null> {
    const me = await pageUser(hub, req, reply);
    if (!me) {
      redirectToLogin(hub, req, reply);
      return null;
    }
    if (!me.admin && staffGroupsOf(hub.config, me.name).length === 0) {
      renderThrown(hub, reply, atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', 'The staff page is for teaching staff and administrators.'), me);
      return null;
    }
    return me;
  }

  /** Run a form action: XSRF first, then the action; expected errors become a readable page. */
  async function action(req: FastifyRequest, reply: FastifyReply, fn: (me: UserRow, ident: Identity, body: Record<string, unknown>) => Promise<void> | void) {
    const me = await staff(req, reply);
    if (!me) return reply;
    const body = (req.body ?? {}) as Record<string, unknown>;
    checkXsrf(hub, req, body._xsrf);
    try {
      await fn(me, pageIdentity(hub, me), body);
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
    return redirect(reply, `${h}staff`, 303);
  }

  app.get('/staff', async (req, reply) => {
    const me = await staff(req, reply);
    if (!me) return reply;
    const ident = pageIdentity(hub, me);
    const hidden = `<input type="hidden" name="_xsrf" value="${esc(xsrfToken(hub, req, reply))}">`;
    const groups = groupsFor(hub, me);
    const preloads = preloadsOf(hub);

    const preloadCard = preloads
      ? `<div class="card"><h2>Images on every node</h2>
        <table><thead><tr><th>Image</th><th>Status</th><th>Nodes</th></tr></thead><tbody id="preload-rows"><tr><td colspan="3" class="muted">Loading…</td></tr></tbody></table>
        <form method="post" action="${esc(h)}staff/preload">${hidden}<label for="images">Preload images (one per line)</label>
        <textarea id="images" name="images" rows="2" style="width:100%"></textarea>
        <label><input type="checkbox" name="continuous" value="1" checked> Also pull onto nodes that join later</label>
        <p><button class="primary" type="submit">Preload</button></p></form></div>${POLL_SCRIPT(`${h}api/images/preloads`)}`
      : '<div class="card"><h2>Images on every node</h2><p class="muted">Image preloading is not enabled on this hub (images.enabled).</p></div>';

    const envs = environmentsOf(hub.stores.db).list().filter((e) => manageable(hub, ident, e));
    const envRows = envs.map((e) => {
      const r = preloads?.readiness(e.image);
      const window = e.startsAt || e.endsAt ? `${e.startsAt ? esc(e.startsAt) : '…'} → ${e.endsAt ? esc(e.endsAt) : '…'}` : '<span class="muted">always</span>';
      const placed = e.constraints.length ? `<br><span class="muted" data-f="constraints">only on ${esc(e.constraints.join(', '))}</span>` : '';
      return `<tr><td>${esc(e.name)}<br><span class="muted">${esc(e.description)}</span></td><td><code>${esc(e.image)}</code>${r ? `<br><span class="muted">ready on ${r.ready}/${r.total} nodes</span>` : ''}${placed}</td>
        <td>${esc([...e.groups, ...e.users.map((u) => `user ${u}`)].join(', '))}</td><td>${window}</td>
        <td><form class="inline" method="post" action="${esc(h)}staff/environments/${esc(encodeURIComponent(e.name))}/delete">${hidden}<button class="danger">Delete</button></form></td></tr>`;
    }).join('');
    const envCard = `<div class="card"><h2>Environments</h2>
      <table><thead><tr><th>Name</th><th>Image</th><th>For</th><th>Window (UTC)</th><th></th></tr></thead><tbody>${envRows || '<tr><td colspan="5" class="muted">None yet.</td></tr>'}</tbody></table>
      <h3>New environment</h3><form method="post" action="${esc(h)}staff/environments">${hidden}
      <label for="env-name">Name</label><input id="env-name" name="name" required pattern="[a-z](-?[a-z0-9])*">
      <label for="env-desc">Description</label><input id="env-desc" name="description">
      <label for="env-image">Image</label><input id="env-image" name="image" required>
      <label for="env-cpu">CPU cores (optional)</label><input id="env-cpu" name="cpu">
      <label for="env-mem">Memory (optional, e.g. 2G)</label><input id="env-mem" name="memory">
      <label for="env-groups">Groups</label><select id="env-groups" name="groups" multiple>${groups.map((g) => `<option>${esc(g)}</option>`).join('')}</select>
      <label for="env-from">From (ISO time, optional)</label><input id="env-from" name="startsAt" placeholder="2026-09-01T08:00:00Z">
      <label for="env-to">Until (ISO time, optional)</label><input id="env-to" name="endsAt">
      ${me.admin ? `<label for="env-constraints">Swarm placement constraints (administrators only; one per line, e.g. node.labels.gpu==true)</label>
      <textarea id="env-constraints" name="constraints" rows="2" style="width:100%"></textarea>` : ''}
      <p><button class="primary" type="submit">Create</button></p></form></div>`;

    const serverRows = groups.map((g) => {
      const group = hub.stores.groups.get(g);
      const members = group ? hub.stores.groups.members(group.id) : [];
      return members.map((name) => {
        const a = hub.spawns.get(name, '');
        const status = a ? (a.phase === 'running' ? 'running' : a.phase === 'spawn' ? 'starting' : 'stopping') : 'stopped';
        const path = esc(encodeURIComponent(name));
        const button = a?.phase === 'running'
          ? `<form class="inline" method="post" action="${esc(h)}staff/servers/${path}/stop">${hidden}<button class="danger">Stop</button></form>`
          : a ? '' : `<form class="inline" method="post" action="${esc(h)}staff/servers/${path}/start">${hidden}<button class="primary">Start</button></form>`;
        return `<tr data-user="${esc(name)}"><td>${esc(g)}</td><td>${esc(name)}</td><td class="status">${status}</td><td>${button}</td></tr>`;
      }).join('');
    }).join('');
    const serverCard = `<div class="card"><h2>Servers of my groups</h2><table><thead><tr><th>Group</th><th>User</th><th>Server</th><th></th></tr></thead>
      <tbody>${serverRows || '<tr><td colspan="4" class="muted">No members.</td></tr>'}</tbody></table></div>`;

    const warm = warmOf(hub).list(visibleGroups(hub, ident));
    const warmRows = warm.map((w) => `<tr data-warm="${w.id}"><td>${esc(w.group)}</td><td>${ago(w.at)}<br><span class="muted">${esc(w.at)}</span></td><td class="status">${esc(w.status)}</td>
      <td>${esc(w.started.map((s) => `${s.user}: ${s.state}`).join(', '))}</td></tr>`).join('');
    const warmCard = `<div class="card"><h2>Warm servers for class start</h2>
      <table><thead><tr><th>Group</th><th>At</th><th>Status</th><th>Servers</th></tr></thead><tbody>${warmRows || '<tr><td colspan="4" class="muted">None scheduled.</td></tr>'}</tbody></table>
      <form method="post" action="${esc(h)}staff/warm">${hidden}
      <label for="warm-group">Group</label><select id="warm-group" name="group">${groups.map((g) => `<option>${esc(g)}</option>`).join('')}</select>
      <label for="warm-at">Start at (ISO time, UTC)</label><input id="warm-at" name="at" required placeholder="2026-12-01T10:55:00Z">
      <label for="warm-env">Environment (optional)</label><select id="warm-env" name="environment"><option value="">default</option>${envs.map((e) => `<option>${esc(e.name)}</option>`).join('')}</select>
      <p><button class="primary" type="submit">Schedule</button></p></form></div>`;

    return renderPage(hub, reply, 'Staff', `<div class="card"><h1>Teaching staff</h1><p>Your groups: ${esc(groups.join(', ') || 'none')}</p></div>${preloadCard}${envCard}${serverCard}${warmCard}`, me);
  });

  app.post('/staff/preload', async (req, reply) => action(req, reply, async (me, _ident, body) => {
    const images = String(body.images ?? '').split(/\s+/).filter(Boolean).slice(0, 50);
    if (images.length === 0) throw atriumError('ATRIUM_ERR_IMAGES_BAD_REF', 'Give at least one image reference');
    await requirePreloads(hub).request(images, { continuous: body.continuous === '1', by: me.name });
  }));

  app.post('/staff/environments', async (req, reply) => action(req, reply, (_me, ident, body) => {
    const list = (v: unknown) => (Array.isArray(v) ? v : v === undefined || v === '' ? [] : [v]).map(String);
    // Constraints: one per line from the administrators' field; a forged one from staff is refused
    // by the catalogue's own check (only administrators may set them).
    const constraints = typeof body.constraints === 'string' ? body.constraints.split('\n').map((c) => c.trim()).filter(Boolean) : [];
    saveEnvironment(hub, ident, { ...body, groups: list(body.groups), users: list(body.users), mounts: [], constraints });
  }));

  app.post<{ Params: { name: string } }>('/staff/environments/:name/delete', async (req, reply) => action(req, reply, (_me, ident) => {
    const env = environmentsOf(hub.stores.db).get(req.params.name);
    if (!env || !manageable(hub, ident, env)) throw atriumError('ATRIUM_ERR_ENV_NOT_FOUND');
    environmentsOf(hub.stores.db).delete(env.name);
  }));

  for (const verb of ['start', 'stop'] as const) {
    app.post<{ Params: { user: string } }>(`/staff/servers/:user/${verb}`, async (req, reply) => action(req, reply, async (_me, ident) => {
      const target = hub.stores.users.get(req.params.user);
      const groupsOfTarget = target ? hub.stores.groups.groupsOf(target.id) : [];
      if (!target || !groupsOfTarget.some((g) => mayRunGroup(hub, ident, g))) throw atriumError('ATRIUM_ERR_STAFF_NOT_YOURS');
      if (verb === 'start') await hub.spawns.spawn(target, '', null);
      else await hub.spawns.stop(target, '');
    }));
  }

  app.post('/staff/warm', async (req, reply) => action(req, reply, (me, ident, body) => {
    if (typeof body.group !== 'string' || !mayRunGroup(hub, ident, body.group)) throw atriumError('ATRIUM_ERR_STAFF_NOT_YOURS');
    warmOf(hub).schedule({ group: body.group, at: body.at, environment: body.environment }, me.name);
  }));
}
