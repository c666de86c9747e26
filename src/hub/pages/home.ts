/**
 * The home page: the user's servers with their whole lifecycle — start, open, stop, a display
 * name, last activity per server, delete a named server, create a new one — and a limit message
 * that says what to do instead of a dead end.
 */
import { loginHostLinks, shellLink } from '../shell/link.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { UserRow } from '../db/index.js';
import { checkXsrf, xsrfToken } from '../auth/session.js';
import { renderThrown } from './error-page.js';
import { atriumError } from '../errors.js';
import { serverPrefix, escapePath } from '../spawn/env.js';
import { ago, esc, renderPage } from './layout.js';
import { pageUser, redirectToLogin } from './login.js';
import { redirect } from './safe-redirect.js';
import { isValidServerName, SERVER_NAME_HTML_PATTERN, SERVER_NAME_MAX, SERVER_NAME_RULE } from '../../shared/names.js';
import { endsNote } from './resources.js';
import { checkServerNameFor } from '../api/server-name.js';
import {
  checkedDisplayName, checkNamedLimit, DISPLAY_NAME_MAX, namedLimit, namedLimitMessage, removeNamedServer,
} from '../spawn/server-lifecycle.js';

type SP = { server: string };
type Body = Record<string, unknown>;

/** A row named before the server-name rule: it may be stopped or deleted, not started. */
export const LEGACY_NAME = '<span class="muted">name predates the naming rule: stop or delete only</span>';

/** A confirm() before a destructive form posts; CSP allows inline script on hub pages. */
export const CONFIRM = (what: string) => `onsubmit="return confirm(${esc(JSON.stringify(what))})"`;

export async function homePages(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  const h = () => esc(hub.urls.hub);

  app.get('/home', async (req, reply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const xsrf = xsrfToken(hub, req, reply);
    const hidden = `<input type="hidden" name="_xsrf" value="${esc(xsrf)}">`;
    const rows = hub.stores.servers.ofUser(me.id);
    const named = hub.config.spawner.namedServers.enabled;
    const names = ['', ...rows.map((r) => r.name).filter((n) => n !== '' && named)];
    const list = names.map((n) => {
      const row = rows.find((r) => r.name === n);
      const a = hub.spawns.get(me.name, n);
      const path = `${esc(escapePath(me.name))}${n ? '/' + esc(escapePath(n)) : ''}`;
      const label = n
        ? `${esc(row?.display_name ?? n)}${row?.display_name ? ` <span class="muted">(${esc(n)})</span>` : ''}`
        : 'Default server';
      const status = a
        ? a.phase === 'running' ? `<span class="ok">running</span>${endsNote(row)}` : esc(a.phase === 'spawn' ? 'starting' : 'stopping')
        : '<span class="muted">stopped</span>';
      const stopForm = `<form class="inline" method="post" action="${h()}stop/${path}">${hidden}<button class="danger" type="submit">Stop</button></form>`;
      const main = a
        ? a.phase === 'running'
          ? `<a class="button primary" href="${esc(serverPrefix(hub, me.name, n))}">Open</a>${shellLink(hub, me, me.name, n)}${stopForm}`
          : `<a class="button" href="${h()}spawn-pending/${path}">Progress</a>`
        : n && !isValidServerName(n) ? LEGACY_NAME
        : `<a class="button primary" href="${h()}spawn/${path}">Start</a>`;
      // Delete is offered in every state but "starting", so a user at the limit is never stuck.
      const extra = n && a?.phase !== 'spawn'
        ? `<form class="inline" method="post" action="${h()}home/servers/${esc(escapePath(n))}/delete" ${CONFIRM(`Delete the server "${n}"? It is stopped first; files in your home folder stay.`)}>${hidden}<button class="danger" type="submit" data-delete="${esc(n)}">Delete</button></form>
           <details class="inline"><summary>Rename</summary><form method="post" action="${h()}home/servers/${esc(escapePath(n))}/display-name">${hidden}
           <label for="dn-${esc(n)}">Display name</label><input id="dn-${esc(n)}" name="display_name" maxlength="${DISPLAY_NAME_MAX}" value="${esc(row?.display_name ?? '')}">
           <button type="submit">Save</button></form></details>`
        : '';
      return `<tr data-server="${esc(n)}"><td>${label}</td><td>${status}</td><td class="muted">${ago(row?.last_activity)}</td><td>${main}${extra}</td></tr>`;
    }).join('');
    let newServer = '';
    if (named) {
      const lim = namedLimit(hub, me);
      const count = lim.limit > 0 ? `<p class="muted">${lim.used} of ${lim.limit} named servers used.</p>` : '';
      newServer = lim.full
        ? `<h2>New named server</h2>${count}<p class="error" role="status">${esc(namedLimitMessage(lim.used, lim.limit))}</p>`
        : `<h2>New named server</h2>${count}<form method="post" action="${h()}home/servers">${hidden}
           <label for="servername">Name (part of the address)</label>
           <input id="servername" name="name" pattern="${SERVER_NAME_HTML_PATTERN}" maxlength="${SERVER_NAME_MAX}" title="${esc(SERVER_NAME_RULE)}" required>
           <p class="muted">${esc(SERVER_NAME_RULE)}</p>
           <label for="displayname">Display name (optional)</label>
           <input id="displayname" name="display_name" maxlength="${DISPLAY_NAME_MAX}" placeholder="Thesis, GPU work …">
           <p><button class="primary" type="submit">Create and start</button></p></form>`;
    }
    return renderPage(hub, reply, 'Home', `<div class="card"><h1>Your servers</h1>
      <table><thead><tr><th>Server</th><th>Status</th><th>Last activity</th><th></th></tr></thead><tbody>${list}</tbody></table>${newServer}</div>${loginHostLinks(hub, me)}`, me);
  });

  // The GET form of earlier versions (bookmarks, links in course material) still works.
  app.get<{ Querystring: { name?: string } }>('/spawn-named', async (req, reply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const name = String(req.query.name ?? '').trim();
    if (!hub.config.spawner.namedServers.enabled) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_SERVER_NAMED_DISABLED'), me);
    if (!isValidServerName(name)) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_SERVER_BAD_NAME', SERVER_NAME_RULE), me);
    return redirect(reply, `${hub.urls.hub}spawn/${escapePath(me.name)}/${escapePath(name)}`, 302);
  });

  /** A cookie-authenticated state change on the user's own server: user, body, or null when a page was sent. */
  async function ownAction(req: FastifyRequest, reply: FastifyReply): Promise<{ me: UserRow; body: Body } | null> {
    const me = await pageUser(hub, req, reply);
    if (!me) {
      redirectToLogin(hub, req, reply);
      return null;
    }
    const body = (typeof req.body === 'object' && req.body ? req.body : {}) as Body;
    checkXsrf(hub, req, body._xsrf);
    return { me, body };
  }

  app.post('/home/servers', async (req, reply) => {
    const ctx = await ownAction(req, reply);
    if (!ctx) return reply;
    const { me, body } = ctx;
    try {
      const name = typeof body.name === 'string' ? body.name.trim() : '';
      if (!hub.config.spawner.namedServers.enabled) throw atriumError('ATRIUM_ERR_SERVER_NAMED_DISABLED');
      if (!isValidServerName(name)) throw atriumError('ATRIUM_ERR_SERVER_BAD_NAME', `Invalid server name ${JSON.stringify(name.slice(0, 40))}. ${SERVER_NAME_RULE}`);
      const label = checkedDisplayName(body.display_name);
      // Checked before the row exists: creating the row is what makes the server count.
      checkNamedLimit(hub, me, name);
      const row = hub.stores.servers.ensure(me.id, name);
      if (label !== null) hub.stores.servers.setDisplayName(row.id, label);
      return redirect(reply, `${hub.urls.hub}spawn/${escapePath(me.name)}/${escapePath(name)}`, 303);
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
  });

  app.post<{ Params: SP }>('/home/servers/:server/display-name', async (req, reply) => {
    const ctx = await ownAction(req, reply);
    if (!ctx) return reply;
    const { me, body } = ctx;
    try {
      checkServerNameFor(hub, me, req.params.server, 'stop');
      const row = hub.stores.servers.get(me.id, req.params.server);
      if (!row || !req.params.server) throw atriumError('ATRIUM_ERR_SERVER_NOT_FOUND', `You have no server named '${req.params.server}'`);
      hub.stores.servers.setDisplayName(row.id, checkedDisplayName(body.display_name));
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
    return redirect(reply, `${hub.urls.hub}home`, 303);
  });

  app.post<{ Params: SP }>('/home/servers/:server/delete', async (req, reply) => {
    const ctx = await ownAction(req, reply);
    if (!ctx) return reply;
    const { me } = ctx;
    try {
      checkServerNameFor(hub, me, req.params.server, 'stop');
      await removeNamedServer(hub, me, req.params.server);
      hub.log.info({ user: me.name, server: req.params.server }, 'named server deleted by its owner');
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
    return redirect(reply, `${hub.urls.hub}home`, 303);
  });
}
