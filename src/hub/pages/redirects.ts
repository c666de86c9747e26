/**
 * The URLs users are sent to: /hub/user-redirect/... (course links), /hub/user/NAME/... (a
 * server that is not routed yet), and /user/NAME/... when the proxy falls back to the hub
 * because no route exists (the server is not running). Each ends at the running server, the
 * spawn page, or a clear error; a redirect loop is cut after a few rounds.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import { escapePath, serverPrefix } from '../spawn/env.js';
import { renderError } from './layout.js';
import { renderThrown } from './error-page.js';
import { atriumError } from '../errors.js';
import { encodeComponent, pathTailProblem, redirect } from './safe-redirect.js';
import { pageUser, redirectToLogin } from './login.js';

const MAX_REDIRECTS = 3;

function splitRest(url: string, prefix: string): { path: string; query: string } {
  const rest = url.slice(prefix.length);
  const q = rest.indexOf('?');
  return q < 0 ? { path: rest, query: '' } : { path: rest.slice(0, q), query: rest.slice(q) };
}

function bumpRedirects(query: string): { query: string; count: number } {
  const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  const count = Number(params.get('redirects') ?? '0') || 0;
  params.set('redirects', String(count + 1));
  return { query: '?' + params.toString(), count };
}

export async function redirectPages(app: FastifyInstance, opts: { hub: HubContext; mount: 'hub' | 'base' }): Promise<void> {
  const hub = opts.hub;
  if (opts.mount === 'base') {
    // No proxy route matched /user/NAME/...: the server is not running (or not routed yet).
    app.all('/user/*', async (req, reply) => {
      const rest = req.url.slice(`${hub.urls.base}user/`.length);
      const why = pathTailProblem(rest.split('?')[0]!);
      if (why) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', why));
      return redirect(reply, `${hub.urls.hub}user/${rest}`, 302);
    });
    app.get('/', async (_req, reply) => redirect(reply, `${hub.urls.hub}home`, 302));
    return;
  }

  app.get('/', async (_req, reply) => redirect(reply, `${hub.urls.hub}home`, 302));

  app.get('/user-redirect/*', async (req, reply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const { path, query } = splitRest(req.url, `${hub.urls.hub}user-redirect/`);
    const why = pathTailProblem(path);
    if (why) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', why), me);
    return redirect(reply, `${serverPrefix(hub, me.name, '')}${path}${query}`, 302);
  });

  app.get<{ Params: { name: string } }>('/user/:name/*', userPage);
  app.get<{ Params: { name: string } }>('/user/:name', userPage);

  async function userPage(req: FastifyRequest<{ Params: { name: string } }>, reply: FastifyReply) {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const name = req.params.name;
    if (name !== me.name && !me.admin) {
      return renderThrown(hub, reply, atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', `You are signed in as ${me.name}; this link is for ${name}'s server.`), me);
    }
    const owner = hub.stores.users.get(name);
    if (!owner) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_USER_NOT_FOUND', `No such user: ${name}`), me);
    const { path, query } = splitRest(req.url, `${hub.urls.hub}user/${escapePath(name)}`);
    const why = pathTailProblem(path);
    if (why) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', why), me);
    let server = '';
    let rest = path.replace(/^\//, '');
    if (hub.config.spawner.namedServers.enabled) {
      // pathTailProblem has checked that every segment decodes.
      const first = decodeURIComponent(rest.split('/')[0] ?? '');
      if (first && hub.stores.servers.get(owner.id, first)) {
        server = first;
        rest = rest.slice(rest.indexOf('/') < 0 ? rest.length : rest.indexOf('/') + 1);
      }
    }
    const target = `${serverPrefix(hub, name, server)}${rest}`;
    const a = hub.spawns.get(name, server);
    if (a?.phase === 'running') {
      const { query: q, count } = bumpRedirects(query);
      if (count >= MAX_REDIRECTS) {
        void hub.routes.reconcile().catch(() => undefined);
        return renderThrown(hub, reply, atriumError('ATRIUM_ERR_PROXY_UNAVAILABLE', 'Your server is running but the proxy has no route to it yet. It is being repaired; reload in a few seconds.'), me);
      }
      return redirect(reply, target + q, 302);
    }
    if (name !== me.name) return renderThrown(hub, reply, atriumError('ATRIUM_ERR_SERVER_NOT_RUNNING', `${name}'s server is not running.`), me);
    const spawnUrl = `${hub.urls.hub}spawn/${escapePath(name)}${server ? '/' + escapePath(server) : ''}?next=${encodeComponent(target + query)}`;
    return redirect(reply, spawnUrl, 302);
  }

  // The proxy's error target (--error-target {hub}error): friendly pages for 404/503 from the proxy.
  // The status is the proxy's, not a hub error, so it is rendered as given rather than catalogued.
  app.get<{ Params: { code: string }; Querystring: { url?: string } }>('/error/:code', async (req, reply) => {
    const code = Number(req.params.code);
    const status = Number.isInteger(code) && code >= 400 && code < 600 ? code : 500;
    const me = await pageUser(hub, req, reply).catch(() => null);
    const url = typeof req.query.url === 'string' ? req.query.url.slice(0, 500) : '';
    const msg = status === 503
      ? `The server behind ${url || 'this address'} is not answering. It may have stopped; start it again from your home page.`
      : status === 404 ? `Nothing is served at ${url || 'this address'}.` : `The proxy could not complete the request for ${url}.`;
    return renderError(hub, reply, status, msg, me);
  });

  app.get('/logo', async (_req, reply) => {
    reply.type('image/svg+xml').header('Cache-Control', 'max-age=86400');
    return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#2458d6"/><path d="M16 48 32 14l16 34h-8l-8-18-8 18z" fill="#fff"/></svg>';
  });
  app.post('/security/csp-report', async (_req, reply) => reply.code(204).send());
}
