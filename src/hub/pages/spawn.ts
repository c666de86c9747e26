/**
 * Spawn, spawn-pending, stop and the redirects that make one course URL work:
 * /hub/user-redirect/lab/tree/x.ipynb → login → /user/alice/lab/tree/x.ipynb, starting the
 * server on the way if needed.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { checkXsrf, xsrfToken } from '../auth/session.js';
import { renderThrown } from './error-page.js';
import { atriumError, hasCode } from '../errors.js';
import { serverPrefix, escapePath } from '../spawn/env.js';
import { renderPage } from './layout.js';
import { pageUser, redirectToLogin } from './login.js';
import { encodeComponent, redirect, safeNext } from './safe-redirect.js';
import { checkServerNameFor, type ServerAction } from '../api/server-name.js';
import { renderOptionsForm, formToInput } from './options-form.js';
import { withResources } from './resources.js';
import { lastOptions } from '../spawn/server-extras.js';
import { classifyError } from '../error-classify.js';
import { renderNotRunning, renderPending, renderSpawnFailure, renderStopping } from './spawn-pending.js';
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

  // /home and /spawn-named live in home.ts.

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
    return startAndRedirect(req, reply, me, user, server, null, next);
  };

  const spawnPost = async (req: FastifyRequest<{ Params: SP; Querystring: { next?: string } }>, reply: FastifyReply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const body = (typeof req.body === 'object' && req.body ? req.body : {}) as Record<string, unknown>;
    checkXsrf(hub, req, body._xsrf);
    const user = target(hub, me, req.params);
    if (!user) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', 'You may only start your own servers.'), me);
    if (badServerName(reply, me, user, req.params.server ?? '', 'start')) return reply;
    const server = req.params.server ?? '';
    try {
      // Try again on the failure page: the stored options, after the failed attempt's cleanup.
      const retry = body._retry === '1';
      if (retry) await hub.spawns.get(user.name, server)?.done;
      let options: Record<string, unknown> | null = null;
      if (!retry) {
        const input = formToInput(body);
        try {
          options = hub.spawns.parseOptions(user, input);
        } catch (err) {
          // A refused choice is the user's to fix: the form again, their values kept, the reason beside the field.
          if (!hasCode(err, 'ATRIUM_ERR_SPAWN_BAD_OPTIONS')) throw err;
          const form = hub.spawnerKind.optionsForm?.(hub.spawnerOptions, hub.spawns.spawnUser(user), lastOptions(hub, user, server));
          if (!form || !form.fields.length) throw err;
          const page = renderOptionsForm(hub, form, req.url, xsrfToken(hub, req, reply), { values: input, message: err.message });
          return renderPage(hub, reply, 'Server options', await withResources(hub, user, page), me, err.statusCode);
        }
      }
      return await startAndRedirect(req, reply, me, user, server, options, safeNext(hub, req.query.next));
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
  };

  /**
   * Start and go to the pending page, which shows progress or, for a start that already failed,
   * the failure. A refusal before anything started (limits, throttling) is shown the same way,
   * with its own status, so every outcome has a Try again.
   */
  async function startAndRedirect(req: FastifyRequest, reply: FastifyReply, me: UserRow, user: UserRow, server: string, options: Record<string, unknown> | null, next: string | null) {
    try {
      // Answer as soon as the spawn is accepted (or refused): the pending page shows its progress.
      // Not a fixed wait: under a class-start burst every millisecond here is on each click.
      await new Promise<void>((resolve, reject) => {
        hub.spawns.spawn(user, server, options, { from: 'browser', accepted: resolve }).then(() => resolve(), reject);
      });
    } catch (err) {
      // A start that began and failed is recorded by the manager: the pending page shows it.
      if (!hub.spawns.failures.has(`${user.name}/${server}`)) {
        const c = classifyError(err);
        if (!c.expected) throw err;
        return renderSpawnFailure(hub, reply, { me, user, server, failure: c, xsrf: xsrfToken(hub, req, reply), hasForm: hasOptionsForm(user, server), status: c.status });
      }
    }
    return redirect(reply, pendingUrl(hub, user.name, server, next), 302);
  }

  function hasOptionsForm(user: UserRow, server: string): boolean {
    const form = hub.spawnerKind.optionsForm?.(hub.spawnerOptions, hub.spawns.spawnUser(user), lastOptions(hub, user, server));
    return Boolean(form && form.fields.length);
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
    const xsrf = xsrfToken(hub, req, reply);
    // A failure is cleared when the next attempt begins, so one beside a starting server is this
    // attempt's own (its cleanup is still running).
    if (failure && (!a || a.phase === 'spawn')) {
      return renderSpawnFailure(hub, reply, { me, user, server, failure, xsrf, hasForm: hasOptionsForm(user, server) });
    }
    // Not starting (again) by itself: a reload after a stop or a cancel must not start the server.
    if (!a) return renderNotRunning(hub, reply, me, user, server, safeNext(hub, req.query.next));
    if (a.phase === 'spawn') return renderPending(hub, reply, { me, user, server, a, next, xsrf });
    return renderStopping(hub, reply, me, user, server);
  };
  app.get('/spawn-pending/:user', pending);
  app.get('/spawn-pending/:user/:server', pending);
}
