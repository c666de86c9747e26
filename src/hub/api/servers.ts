/** Start, stop and watch servers: /hub/api/users/:name/server[s/:server][/progress] (contracts §2.4, §2.5). */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { atriumError } from '../errors.js';
import { spawnFailureText } from '../error-classify.js';
import { needsScope, userOr404 } from './guard.js';
import { jsonBody } from './body.js';
import type { HubProgressEvent } from '../spawn/active.js';
import { checkServerNameFor } from './server-name.js';

type P = { name: string; server?: string };

function toWire(e: HubProgressEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { progress: e.progress, message: e.message };
  if (e.htmlMessage) out.html_message = e.htmlMessage;
  if (e.ready) out.ready = true;
  if (e.failed) out.failed = true;
  if (e.url) out.url = e.url;
  // An added field (JupyterHub's events have none; clients that do not know it ignore it). Only
  // recorded events have it: the summary sent for a start that is already over has no true time.
  if (e.time) out.time = e.time;
  if (e.queue) out.queue = { position: e.queue.position, queued: e.queue.queued, estimate_seconds: e.queue.estimateSeconds };
  return out;
}

export async function serversApi(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  const serverName = (req: FastifyRequest<{ Params: P }>) => req.params.server ?? '';

  const start = async (req: FastifyRequest<{ Params: P }>, reply: FastifyReply) => {
    const server = serverName(req);
    needsScope(hub, req, ['servers'], { server: `${req.params.name}/${server}` });
    const user = userOr404(hub, req.params.name);
    checkServerNameFor(hub, user, server, 'start');
    const body = jsonBody(req);
    const options = body === null || (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)
      ? null
      : hub.spawns.parseOptions(user, body);
    const result = await hub.spawns.spawn(user, server, options, { from: 'api' });
    reply.code(result === 'started' ? 201 : 202).type('text/plain');
    return '';
  };

  const stop = async (req: FastifyRequest<{ Params: P }>, reply: FastifyReply) => {
    const server = serverName(req);
    needsScope(hub, req, ['delete:servers'], { server: `${req.params.name}/${server}` });
    const user = userOr404(hub, req.params.name);
    checkServerNameFor(hub, user, server, 'stop');
    const body = jsonBody(req) as { remove?: unknown } | null;
    const remove = body !== null && typeof body === 'object' && body.remove === true;
    if (remove && !server) throw atriumError('ATRIUM_ERR_SERVER_DEFAULT_REMOVE');
    const row = hub.stores.servers.get(user.id, server);
    if (server && !row) throw atriumError('ATRIUM_ERR_SERVER_NOT_FOUND', `${user.name} has no server named '${server}'`);
    const result = await hub.spawns.stop(user, server);
    if (remove && row) {
      if (result === 'pending') await hub.spawns.get(user.name, server)?.done;
      hub.stores.servers.delete(row.id);
    }
    reply.code(result === 'stopped' ? 204 : 202).type('text/plain');
    return '';
  };

  const progress = async (req: FastifyRequest<{ Params: P }>, reply: FastifyReply) => {
    const server = serverName(req);
    needsScope(hub, req, ['read:servers'], { server: `${req.params.name}/${server}` });
    const user = userOr404(hub, req.params.name);
    checkServerNameFor(hub, user, server, 'view');
    const key = `${user.name}/${server}`;
    const a = hub.spawns.get(user.name, server);
    const failure = hub.spawns.failures.get(key);
    if (!a && !failure) {
      if (!hub.stores.servers.get(user.id, server)) throw atriumError('ATRIUM_ERR_SERVER_NOT_FOUND');
      throw atriumError('ATRIUM_ERR_SERVER_NOT_STARTING', `${key} is not starting...`);
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
      'X-JupyterHub-Version': '3.0.0',
    });
    res.write('\n\n');
    const send = (e: HubProgressEvent) => res.write(`data: ${JSON.stringify(toWire(e))}\n\n`);
    if (!a) {
      send({ progress: 100, failed: true, message: spawnFailureText(failure!) });
      res.end();
      return;
    }
    if (a.phase === 'running') {
      send({ progress: 100, ready: true, message: `Server ready at ${a.prefix}`, htmlMessage: `Server ready at <a href="${a.prefix}">${a.prefix}</a>`, url: a.prefix });
      res.end();
      return;
    }
    for (const e of a.events) send(e);
    if (a.events.some((e) => e.ready || e.failed)) {
      res.end();
      return;
    }
    const keepalive = setInterval(() => res.write('\n\n'), 8000);
    const unsubscribe = a.subscribe((e) => {
      if (e) send(e);
      if (!e || e.ready || e.failed) {
        clearInterval(keepalive);
        unsubscribe();
        res.end();
      }
    });
    req.raw.once('close', () => {
      clearInterval(keepalive);
      unsubscribe();
    });
  };

  app.post<{ Params: P }>('/api/users/:name/server', start);
  app.post<{ Params: P }>('/api/users/:name/servers/:server', start);
  app.delete<{ Params: P }>('/api/users/:name/server', stop);
  app.delete<{ Params: P }>('/api/users/:name/servers/:server', stop);
  app.get<{ Params: P }>('/api/users/:name/server/progress', progress);
  app.get<{ Params: P }>('/api/users/:name/servers/:server/progress', progress);
}
