/**
 * The CHP REST API: GET/POST/DELETE /api/routes[/path], token auth, CHP's status codes and
 * bodies. The body is parsed as JSON whatever its Content-Type, because JupyterHub sends
 * application/x-www-form-urlencoded.
 */
import { secretChecker } from '../shared/secret-compare.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ProxyMetrics } from './metrics.js';
import { originForm } from './request-path.js';
import { normalizePrefix, type RouteData, type RouteTable } from './routes.js';

const MAX_BODY_BYTES = 1024 * 1024;
const ROUTES_RE = /^\/api\/routes(\/.*)?$/;

export interface ApiContext {
  table: RouteTable;
  authToken: string;
  hostRouting: boolean;
  metrics: ProxyMetrics;
  log: Logger;
  /** Run before answering a GET (with --workers: collect the workers' last_activity first). */
  beforeRead?: () => Promise<void>;
}

/** Constant-time check of `Authorization: token X`; hashing makes the lengths equal. */
export function makeAuthCheck(token: string): (header: string | undefined) => boolean {
  if (token === '') return () => true;
  const matches = secretChecker(token);
  return (header) => {
    if (header === undefined) return false;
    const m = /token\s+(\S+)/.exec(header);
    return m !== null && matches(m[1]!);
  };
}

function reply(res: ServerResponse, code: number, body?: string, json = false): void {
  const headers: Record<string, string | number> = {};
  if (body !== undefined) {
    headers['content-type'] = json ? 'application/json' : 'text/plain; charset=utf-8';
    headers['content-length'] = Buffer.byteLength(body);
  }
  res.writeHead(code, headers);
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        resolve(null);
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function createApiHandler(ctx: ApiContext): (req: IncomingMessage, res: ServerResponse) => void {
  const authorized = makeAuthCheck(ctx.authToken);
  return (req, res) => {
    ctx.metrics.apiRequests.inc();
    handle(ctx, authorized, req, res).catch((err: unknown) => {
      ctx.log.error({ err }, 'API request failed');
      if (!res.headersSent) reply(res, 500, 'Internal Server Error');
      else res.destroy();
    });
  };
}

async function handle(
  ctx: ApiContext,
  authorized: (h: string | undefined) => boolean,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  // The route spec is taken literally (decoded once, never dot-resolved): see originForm.
  const target = originForm(req.url ?? '/');
  if (target === null) return reply(res, 400, 'Bad Request');
  const q = target.indexOf('?');
  const m = ROUTES_RE.exec(q < 0 ? target : target.slice(0, q));
  if (!m) return reply(res, 404, 'Not Found');
  if (!authorized(req.headers.authorization)) {
    res.writeHead(403);
    res.end();
    return;
  }
  let path: string | undefined;
  try {
    path = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
  } catch {
    return reply(res, 400, 'Invalid URL encoding');
  }
  switch (req.method) {
    case 'GET':
      if (ctx.beforeRead) await ctx.beforeRead();
      return getRoutes(ctx, new URLSearchParams(q < 0 ? '' : target.slice(q)), path, res);
    case 'POST':
      return postRoute(ctx, req, path ?? '/', res);
    case 'DELETE':
      if (ctx.table.delete(path ?? '/')) {
        res.writeHead(204);
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
      return;
    default:
      return reply(res, 405, 'Method not supported');
  }
}

function getRoutes(ctx: ApiContext, query: URLSearchParams, path: string | undefined, res: ServerResponse): void {
  if (path !== undefined && path !== '/') {
    const route = ctx.table.get(path);
    if (!route) {
      res.writeHead(404);
      res.end();
      return;
    }
    return reply(res, 200, JSON.stringify(ctx.table.toJSON(route)), true);
  }
  const since = query.get('inactive_since') ?? query.get('inactiveSince');
  let cutoff = Infinity;
  if (since !== null) {
    cutoff = Date.parse(since);
    if (Number.isNaN(cutoff)) return reply(res, 400, `Invalid datestamp '${since}' must be ISO8601.`);
  }
  const all: Record<string, unknown> = {};
  for (const route of ctx.table.entries()) {
    if (route.lastActivity < cutoff) all[route.prefix] = ctx.table.toJSON(route);
  }
  reply(res, 200, JSON.stringify(all), true);
}

async function postRoute(ctx: ApiContext, req: IncomingMessage, path: string, res: ServerResponse): Promise<void> {
  const body = await readBody(req);
  if (body === null) return reply(res, 413, 'Body too large');
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch (err) {
    return reply(res, 400, `Body not valid JSON: ${(err as Error).message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data) || typeof (data as RouteData).target !== 'string') {
    return reply(res, 400, "Must specify 'target' as string");
  }
  const route = data as RouteData;
  try {
    const t = new URL(route.target);
    if (!/^https?:$/.test(t.protocol)) throw new Error('protocol');
  } catch {
    return reply(res, 400, `Invalid target URL: ${route.target}`);
  }
  const key = normalizePrefix(path);
  if (ctx.hostRouting && key !== '/') route.host = key.split('/')[1];
  delete route.last_activity;
  ctx.table.set(key, route);
  ctx.log.debug({ path: key, target: route.target }, 'route added');
  res.writeHead(201);
  res.end();
}
