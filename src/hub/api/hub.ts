/** Hub-level API: version, info, health, metrics, shutdown, proxy sync (contracts §2.4). */
import type { FastifyInstance } from 'fastify';
import { atriumError } from '../errors.js';
import { httpCall } from '../http-call.js';
import { needsScope, pageOf, paged } from './guard.js';
import { jsonBody, objectBody } from './body.js';
import { JUPYTERHUB_COMPAT_VERSION } from '../context.js';
import { keyToSpec } from '../spawn/routes.js';
import { servicesApi } from '../services/api.js';

export interface ShutdownRequest {
  /** Also stop the proxy the hub started ({"proxy": true}); by default it outlives the hub. */
  proxy: boolean;
}

export async function hubApi(app: FastifyInstance, opts: { requestShutdown: (o: ShutdownRequest) => void }): Promise<void> {
  const hub = app.hub;

  app.get('/api', async () => ({ version: JUPYTERHUB_COMPAT_VERSION, atrium: hub.version }));

  app.get('/api/info', async (req) => {
    needsScope(hub, req, ['read:hub']);
    return {
      version: JUPYTERHUB_COMPAT_VERSION,
      atrium_version: hub.version,
      node: process.version,
      spawner: { class: hub.spawnerKind.kind, version: hub.version },
      authenticator: { class: hub.config.authenticator.kind, version: hub.version },
    };
  });

  const health = async (_req: unknown, reply: { type: (t: string) => unknown }) => {
    reply.type('text/html');
    return '';
  };
  app.get('/api/health', health);
  app.get('/health', health);

  const metrics = async (req: Parameters<typeof needsScope>[1], reply: { type: (t: string) => unknown }) => {
    if (hub.config.metrics.authenticate) needsScope(hub, req, ['read:metrics']);
    reply.type(hub.metrics.registry.contentType);
    return hub.metrics.registry.metrics();
  };
  app.get('/api/metrics', metrics);
  app.get('/metrics', metrics);

  app.post('/api/shutdown', async (req, reply) => {
    needsScope(hub, req, ['shutdown']);
    const body = objectBody(req);
    for (const k of ['servers', 'proxy']) {
      if (body[k] !== undefined && typeof body[k] !== 'boolean') {
        throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `${k} must be true or false, got ${JSON.stringify(body[k])}`);
      }
    }
    if (body.servers === true) {
      // Stopping every server at shutdown is explicit; the default leaves users' work running.
      await Promise.allSettled(
        [...hub.spawns.active.values()].map(async (a) => {
          const u = hub.stores.users.getById(a.userId);
          if (u && a.phase === 'running') await hub.spawns.stop(u, a.serverName);
        }),
      );
    }
    reply.code(202);
    const proxy = body.proxy === true;
    setImmediate(() => opts.requestShutdown({ proxy }));
    return { message: 'Shutting down Hub' };
  });

  app.get('/api/proxy', async (req) => {
    needsScope(hub, req, ['proxy']);
    const page = pageOf(req);
    const routes = await hub.routes.list();
    const entries = Object.entries(routes)
      .filter(([, d]) => d.jupyterhub)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    const out: Record<string, unknown> = {};
    for (const [key, d] of entries.slice(page.offset, page.offset + page.limit)) {
      const { target, jupyterhub: _j, ...data } = d;
      const spec = keyToSpec(key);
      out[spec] = { routespec: spec, target, data };
    }
    return paged(hub, req, page, out, entries.length);
  });

  app.post('/api/proxy', async (req, reply) => {
    needsScope(hub, req, ['proxy']);
    await hub.routes.reconcile();
    reply.code(200).type('application/json');
    return '';
  });

  app.patch('/api/proxy', async (req, reply) => {
    needsScope(hub, req, ['proxy']);
    if (jsonBody(req) === null) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'need JSON body: {"api_url": ..., "auth_token": ...}');
    const body = objectBody(req);
    const unknown = Object.keys(body).filter((k) => k !== 'api_url' && k !== 'auth_token');
    if (unknown.length) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Unknown keys: ${unknown.join(', ')} (only api_url and auth_token)`);
    const change: { apiUrl?: string; authToken?: string } = {};
    if (body.api_url !== undefined) {
      if (typeof body.api_url !== 'string' || !URL.canParse(body.api_url) || !/^https?:$/.test(new URL(body.api_url).protocol)) {
        throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'api_url must be an http:// or https:// URL');
      }
      change.apiUrl = body.api_url;
    }
    if (body.auth_token !== undefined) {
      if (typeof body.auth_token !== 'string' || body.auth_token === '') throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'auth_token must be a non-empty string');
      change.authToken = body.auth_token;
    }
    // Try the new settings before using them: a typo must not cut the hub off its proxy.
    if (Object.keys(change).length) await checkProxyApi({ ...hub.routes.current(), ...change });
    hub.routes.reconfigure(change);
    if (Object.keys(change).length) hub.log.warn({ apiUrl: change.apiUrl, tokenChanged: change.authToken !== undefined }, 'proxy API settings changed through the API (until the next hub start)');
    await hub.routes.reconcile();
    reply.code(200).type('application/json');
    return '';
  });

  await app.register(servicesApi);
}

async function checkProxyApi(o: { apiUrl: string; authToken: string }): Promise<void> {
  const url = `${o.apiUrl.replace(/\/+$/, '')}/api/routes`;
  let status: number;
  try {
    status = (await httpCall(url, { headers: { Authorization: `token ${o.authToken}` }, timeoutMs: 5000 })).status;
  } catch (err) {
    throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `The proxy API at ${url} did not answer (${(err as Error).message}); settings unchanged`);
  }
  if (status !== 200) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `The proxy API at ${url} answered ${status} with these settings; settings unchanged`);
}
