/**
 * The hub's HTTP app: fastify plugins registered in a readable order. Everything it needs comes
 * in through `hub` (see context.ts); nothing here starts processes or touches the network.
 */
import { createServer } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { HubContext } from './context.js';
import { JUPYTERHUB_COMPAT_VERSION } from './context.js';
import { atriumError } from './errors.js';
import { classifyError, logClassified } from './error-classify.js';
import { storageHealth } from './db/storage-health.js';
import { renderError } from './pages/layout.js';
import { usersApi } from './api/users.js';
import { serversApi } from './api/servers.js';
import { tokensApi } from './api/tokens.js';
import { groupsApi } from './api/groups.js';
import { hubApi, type ShutdownRequest } from './api/hub.js';
import { oauthProvider } from './oauth/provider.js';
import { loginPages } from './pages/login.js';
import { spawnPages } from './pages/spawn.js';
import { homePages } from './pages/home.js';
import { adminPages } from './pages/admin.js';
import { tokenPages } from './pages/token.js';
import { redirectPages } from './pages/redirects.js';
import { headerSafeUrl } from '../shared/url-text.js';
import { restoreGateWait } from './spawn/restore-gate.js';
import { faviconRoutes } from './pages/favicon.js';
import { signedIn } from './pages/signed-in.js';

declare module 'fastify' {
  interface FastifyInstance {
    hub: HubContext;
  }
}

const API_HEADERS = {
  'X-JupyterHub-Version': JUPYTERHUB_COMPAT_VERSION,
  'Access-Control-Allow-Headers': 'accept, content-type, authorization',
};

export async function buildApp(hub: HubContext, opts: { requestShutdown?: (o: ShutdownRequest) => void } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: hub.log.child({ component: 'http' }) as FastifyBaseLogger,
    // No per-request log lines: the latency histogram covers requests.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: hub.config.hub.maxBodyBytes,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 500 },
    trustProxy: false,
    return503OnClosing: false,
    // HEAD is answered by the GET route instead of a HEAD twin of every GET route (fastify's
    // default): ~60 fewer routes to build at every start. Node decided when the request arrived
    // that a HEAD answer has no body, so only the GET answer's headers go out.
    exposeHeadRoutes: false,
    serverFactory: (handler, options) => {
      const opts = options as { http?: object | null; keepAliveTimeout?: number; requestTimeout?: number; connectionTimeout?: number; maxRequestsPerSocket?: number };
      const server = createServer(opts.http ?? {}, (req, res) => {
        if (req.method === 'HEAD') req.method = 'GET';
        handler(req, res);
      });
      // What fastify sets on a server it makes itself.
      if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
      if (opts.requestTimeout !== undefined) server.requestTimeout = opts.requestTimeout;
      server.setTimeout(opts.connectionTimeout ?? 0);
      if (opts.maxRequestsPerSocket) server.maxRequestsPerSocket = opts.maxRequestsPerSocket;
      return server;
    },
  });
  app.decorate('hub', hub);
  const hubPrefix = hub.urls.hub.replace(/\/$/, '');
  const isApi = (url: string) => url.startsWith(`${hub.urls.hub}api`);

  // 1. Body parsing: JSON whatever the type, forms for pages; anything else kept as text so the
  //    handler can say what is wrong instead of a generic 415.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  await app.register(formbody, { bodyLimit: hub.config.hub.maxBodyBytes });
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  await app.register(cookie);

  // 2. Headers every hub response carries, and latency metrics. After a restart, requests that
  //    touch servers wait here until the restore knows their state (spawn/restore-gate.ts).
  const restoring = restoreGateWait(hub.urls, () => hub.spawns.gate);
  app.addHook('onRequest', async (req, reply) => {
    hub.stores.health.checkStorage();
    reply.headers(API_HEADERS);
    (req as FastifyRequest & { t0?: number }).t0 = performance.now();
    const wait = restoring(req);
    if (wait) await wait;
  });
  // A Location outside Latin-1 would make Node throw while writing the head (a 500); every hub
  // redirect already goes through pages/safe-redirect.ts, this catches any that does not.
  app.addHook('onSend', async (_req, reply, payload) => {
    const loc = reply.getHeader('location');
    if (typeof loc === 'string') reply.header('location', headerSafeUrl(loc));
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const t0 = (req as FastifyRequest & { t0?: number }).t0;
    if (t0 === undefined) return;
    hub.metrics.apiLatency.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) },
      (performance.now() - t0) / 1000,
    );
  });

  // 3. Errors: one classifier (error-classify.ts) decides status, message and log level;
  //    a database that is locked or gone is an expected failure (503), not a bug.
  app.setErrorHandler((thrown: Error, req: FastifyRequest, reply: FastifyReply) => {
    const c = classifyError(thrown, { storage: storageHealth(hub.stores.db) });
    logClassified(req.log, c, 'request failed', { url: req.url, method: req.method }, true);
    reply.headers(c.headers);
    if (isApi(req.url) || !req.method.match(/^(GET|POST|HEAD)$/)) {
      reply.code(c.status).type('application/json').send({ status: c.status, message: c.message });
      return;
    }
    renderError(hub, reply, c.status, c.message);
  });
  app.setNotFoundHandler((req, reply) => {
    const err = isApi(req.url) ? atriumError('ATRIUM_ERR_HTTP_NOT_FOUND') : atriumError('ATRIUM_ERR_HTTP_NOT_FOUND', `Nothing is served at ${req.url.slice(0, 200)}.`);
    if (isApi(req.url)) return reply.code(err.statusCode).type('application/json').send({ status: err.statusCode, message: err.message });
    return renderError(hub, reply, err.statusCode, err.message, signedIn(hub, req));
  });

  // 4. Features under /hub/: API first, then OAuth, then pages.
  await app.register(
    async (h) => {
      h.options('/api/*', async (_req, reply) => reply.code(200).send(''));
      await h.register(hubApi, { requestShutdown: opts.requestShutdown ?? (() => undefined) });
      await h.register(usersApi);
      await h.register(serversApi);
      await h.register(tokensApi);
      await h.register(groupsApi);
      await h.register((await import('./api/spawner-report.js')).spawnerReportApi);
      await h.register((await import('./api/resources.js')).resourcesApi);
      await h.register((await import('./jobs/index.js')).jobsFeature);
      await h.register(oauthProvider);
      await h.register(loginPages);
      await h.register(spawnPages);
      await h.register(homePages);
      await h.register(tokenPages);
      await h.register(adminPages);
      await h.register((await import('./shell/page.js')).shellPages);
      await h.register((await import('./staff/plugin.js')).teachingStaff);
      await h.register(redirectPages, { hub, mount: 'hub' });
      await h.register(faviconRoutes(['/favicon.ico', '/favicon.svg']));
    },
    { prefix: hubPrefix },
  );
  // 5. Outside /hub/: the proxy's fallback for users whose server is not routed.
  await app.register(redirectPages, { hub, mount: 'base', prefix: hub.urls.base === '/' ? '' : hub.urls.base.replace(/\/$/, '') });
  await app.register(faviconRoutes(['/favicon.ico']), { prefix: hub.urls.base === '/' ? '' : hub.urls.base.replace(/\/$/, '') });

  return app;
}
