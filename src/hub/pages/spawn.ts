/**
 * Home, spawn, spawn-pending and the redirects that make one course URL work:
 * /hub/user-redirect/lab/tree/x.ipynb → login → /user/alice/lab/tree/x.ipynb, starting the
 * server on the way if needed.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { checkXsrf, xsrfToken } from '../auth/session.js';
import { renderThrown } from './error-page.js';
import { atriumError } from '../errors.js';
import { serverPrefix, escapePath } from '../spawn/env.js';
import { esc, renderPage } from './layout.js';
import { pageUser, redirectToLogin } from './login.js';
import { encodeComponent, redirect, safeNext } from './safe-redirect.js';
import { checkServerNameFor, type ServerAction } from '../api/server-name.js';
import { isValidServerName, SERVER_NAME_HTML_PATTERN, SERVER_NAME_MAX, SERVER_NAME_RULE } from '../../shared/names.js';
import { renderOptionsForm, formToInput } from './options-form.js';
import { LEGACY_NAME } from './admin.js';
import { endsNote, withResources } from './resources.js';
import { lastOptions } from '../spawn/server-extras.js';
import { withEnvironments } from '../environments/form.js';

type SP = { user?: string; server?: string };

/** Resolve which user's server a page is about; admins may act for others. */
function target(hub: HubContext, me: UserRow, params: SP): UserRow | null {
  if (!params.user || params.user === me.name) return me;
  if (!me.admin) return null;
  return hub.stores.users.get(params.user) ?? null;
}

function pendingUrl(hub: HubContext, user: string, server: string, next?: string | null): string {
  return `${hub.urls.hub}spawn-pending/${escapePath(user)}${server ? '/' + escapePath(server) : ''}${next ? `?next=${encodeComponent(next)}` : ''}`;
}

export async function spawnPages(app: FastifyInstance): Promise<void> {
  const hub = app.hub;

  /** The server-name rule as a 400 page; true when the page was sent. */
  function badServerName(reply: FastifyReply, me: UserRow, user: UserRow, server: string, action: ServerAction): boolean {
    try {
      checkServerNameFor(hub, user, server, action);
      return false;
    } catch (err) {
      renderThrown(hub, reply, err, me);
      return true;
    }
  }

  app.get('/home', async (req, reply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const xsrf = xsrfToken(hub, req, reply);
    const rows = hub.stores.servers.ofUser(me.id);
    const names = new Set(['', ...rows.map((r) => r.name)]);
    const named = hub.config.spawner.namedServers.enabled;
    const list = [...names]
      .filter((n) => n === '' || named)
      .map((n) => {
        const a = hub.spawns.get(me.name, n);
        const label = n ? esc(n) : 'Default server';
        const status = a ? (a.phase === 'running' ? `<span class="ok">running</span>${endsNote(rows.find((r) => r.name === n))}` : esc(a.phase === 'spawn' ? 'starting' : 'stopping')) : '<span class="muted">stopped</span>';
        const stopForm = `<form class="inline" method="post" action="${esc(hub.urls.hub)}stop/${esc(escapePath(me.name))}${n ? '/' + esc(escapePath(n)) : ''}"><input type="hidden" name="_xsrf" value="${esc(xsrf)}"><button class="danger" type="submit">Stop</button></form>`;
        const actions = a
          ? a.phase === 'running'
            ? `<a class="button primary" href="${esc(serverPrefix(hub, me.name, n))}">Open</a>${stopForm}`
            : `<a class="button" href="${esc(pendingUrl(hub, me.name, n))}">Progress</a>`
          : n && !isValidServerName(n) ? LEGACY_NAME
          : `<a class="button primary" href="${esc(hub.urls.hub)}spawn/${esc(escapePath(me.name))}${n ? '/' + esc(escapePath(n)) : ''}">Start</a>`;
        return `<tr><td>${label}</td><td>${status}</td><td>${actions}</td></tr>`;
      })
      .join('');
    const newServer = named
      ? `<form method="get" action="${esc(hub.urls.hub)}spawn-named"><label for="servername">New named server</label>
         <input id="servername" name="name" pattern="${SERVER_NAME_HTML_PATTERN}" maxlength="${SERVER_NAME_MAX}" title="${esc(SERVER_NAME_RULE)}" required>
         <p class="muted">${esc(SERVER_NAME_RULE)}</p><button type="submit">Create</button></form>`
      : '';
    return renderPage(hub, reply, 'Home', `<div class="card"><h1>Your servers</h1>
      <table><thead><tr><th>Server</th><th>Status</th><th></th></tr></thead><tbody>${list}</tbody></table>${newServer}</div>`, me);
  });

  app.get<{ Querystring: { name?: string } }>('/spawn-named', async (req, reply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const name = String(req.query.name ?? '').trim();
    if (!isValidServerName(name)) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_SERVER_BAD_NAME', SERVER_NAME_RULE), me);
    if (!hub.config.spawner.namedServers.enabled) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_SERVER_NAMED_DISABLED'), me);
    return redirect(reply, `${hub.urls.hub}spawn/${escapePath(me.name)}/${escapePath(name)}`, 302);
  });

  const spawnGet = async (req: FastifyRequest<{ Params: SP; Querystring: { next?: string } }>, reply: FastifyReply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const user = target(hub, me, req.params);
    if (!user) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', 'You may only start your own servers.'), me);
    const server = req.params.server ?? '';
    if (badServerName(reply, me, user, server, 'start')) return reply;
    const next = safeNext(hub, req.query.next);
    const a = hub.spawns.get(user.name, server);
    if (a?.phase === 'running') return redirect(reply, next ?? serverPrefix(hub, user.name, server), 302);
    if (a) return redirect(reply, pendingUrl(hub, user.name, server, next), 302);
    const form = withEnvironments(hub, user, hub.spawnerKind.optionsForm?.(hub.spawnerOptions, hub.spawns.spawnUser(user), lastOptions(hub, user, server)));
    if (form && form.fields.length) {
      const xsrf = xsrfToken(hub, req, reply);
      return renderPage(hub, reply, 'Server options', await withResources(hub, user, renderOptionsForm(hub, form, req.url, xsrf)), me);
    }
    return startAndRedirect(reply, me, user, server, null, next);
  };

  const spawnPost = async (req: FastifyRequest<{ Params: SP; Querystring: { next?: string } }>, reply: FastifyReply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const body = (typeof req.body === 'object' && req.body ? req.body : {}) as Record<string, unknown>;
    checkXsrf(hub, req, body._xsrf);
    const user = target(hub, me, req.params);
    if (!user) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', 'You may only start your own servers.'), me);
    if (badServerName(reply, me, user, req.params.server ?? '', 'start')) return reply;
    try {
      const options = hub.spawns.parseOptions(user, formToInput(body));
      return await startAndRedirect(reply, me, user, req.params.server ?? '', options, safeNext(hub, req.query.next));
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
  };

  async function startAndRedirect(reply: FastifyReply, me: UserRow, user: UserRow, server: string, options: Record<string, unknown> | null, next: string | null) {
    try {
      const p = hub.spawns.spawn(user, server, options);
      // Don't hold the browser for the slow-spawn timeout: the pending page shows progress.
      p.catch(() => undefined);
      await Promise.race([p, new Promise((r) => setTimeout(r, 50))]);
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
    return redirect(reply, pendingUrl(hub, user.name, server, next), 302);
  }

  app.get('/spawn', spawnGet);
  app.get('/spawn/:user', spawnGet);
  app.get('/spawn/:user/:server', spawnGet);
  app.post('/spawn', spawnPost);
  app.post('/spawn/:user', spawnPost);
  app.post('/spawn/:user/:server', spawnPost);

  const stopPost = async (req: FastifyRequest<{ Params: SP }>, reply: FastifyReply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const body = (typeof req.body === 'object' && req.body ? req.body : {}) as Record<string, unknown>;
    checkXsrf(hub, req, body._xsrf);
    const user = target(hub, me, req.params);
    if (!user) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', 'You may only stop your own servers.'), me);
    if (badServerName(reply, me, user, req.params.server ?? '', 'stop')) return reply;
    try {
      await hub.spawns.stop(user, req.params.server ?? '');
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
    return redirect(reply, me.id === user.id ? `${hub.urls.hub}home` : `${hub.urls.hub}admin`, 303);
  };
  app.post('/stop/:user', stopPost);
  app.post('/stop/:user/:server', stopPost);

  const pending = async (req: FastifyRequest<{ Params: SP; Querystring: { next?: string } }>, reply: FastifyReply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const user = target(hub, me, req.params);
    if (!user) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', 'You may only watch your own servers.'), me);
    const server = req.params.server ?? '';
    if (badServerName(reply, me, user, server, 'view')) return reply;
    const next = safeNext(hub, req.query.next) ?? serverPrefix(hub, user.name, server);
    const a = hub.spawns.get(user.name, server);
    const failure = hub.spawns.failures.get(`${user.name}/${server}`);
    if (a?.phase === 'running') return redirect(reply, next, 302);
    const retry = `${hub.urls.hub}spawn/${escapePath(user.name)}${server ? '/' + escapePath(server) : ''}`;
    if (!a && failure) {
      return renderPage(hub, reply, 'Spawn failed', `<div class="card"><h1>Your server could not start</h1>
        <p class="error" role="alert">${esc(failure.message)}</p><p><a class="button primary" href="${esc(retry)}">Try again</a></p></div>`, me);
    }
    if (!a) return redirect(reply, retry, 302);
    const progressUrl = server
      ? `${hub.urls.hub}api/users/${escapePath(user.name)}/servers/${escapePath(server)}/progress`
      : `${hub.urls.hub}api/users/${escapePath(user.name)}/server/progress`;
    return renderPage(hub, reply, 'Starting', `<div class="card"><h1>Your server is starting</h1>
      <progress id="bar" max="100" value="0"></progress>
      <p id="msg" role="status">Server requested</p><div id="log"></div>
      <noscript><p>Reload this page to see whether your server is ready.</p></noscript></div>
      <script>
        (function () {
          var next = ${JSON.stringify(next).replace(/</g, '\\u003c')};
          var bar = document.getElementById('bar'), msg = document.getElementById('msg'), log = document.getElementById('log');
          var es = new EventSource(${JSON.stringify(progressUrl).replace(/</g, '\\u003c')});
          es.onmessage = function (ev) {
            var e = JSON.parse(ev.data);
            bar.value = e.progress || 0; msg.textContent = e.message || '';
            log.textContent += (e.message || '') + '\\n';
            if (e.ready) { es.close(); window.location.replace(next); }
            if (e.failed) { es.close(); msg.className = 'error'; msg.insertAdjacentHTML('afterend', '<p><a class="button primary" href=${JSON.stringify(esc(retry))}>Try again</a></p>'); }
          };
          es.onerror = function () { es.close(); setTimeout(function () { window.location.reload(); }, 2000); };
        })();
      </script>`, me);
  };
  app.get('/spawn-pending/:user', pending);
  app.get('/spawn-pending/:user/:server', pending);
}
