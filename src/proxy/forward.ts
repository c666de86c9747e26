/**
 * The HTTP request path: route lookup, header rewrite, one request to the target over a pooled
 * keep-alive connection, streamed both ways. Nothing here logs at info level: it runs per request.
 */
import { Agent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import type { ErrorPages } from './error-pages.js';
import { rewriteHeaders, type RewriteOptions } from './headers.js';
import type { ProxyMetrics } from './metrics.js';
import type { ProxyOptions } from './options.js';
import { joinPath, parseRequestUrl, stripPrefix } from './request-path.js';
import type { Route, RouteTable } from './routes.js';

/** Connection-scoped headers never forwarded in either direction (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'transfer-encoding']);

/** Connect-time failures mean "nobody is serving this route": 503, like CHP. */
const DOWN_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);

const HEALTHZ_BODY = JSON.stringify({ status: 'OK' });

export interface Context {
  table: RouteTable;
  options: ProxyOptions;
  metrics: ProxyMetrics;
  errors: ErrorPages;
  log: Logger;
  httpAgent: Agent;
  httpsAgent: HttpsAgent;
  rewrite: RewriteOptions;
}

export function createAgents(): { httpAgent: Agent; httpsAgent: HttpsAgent } {
  // lifo keeps a few hot sockets busy and lets the rest idle out; no maxSockets cap because
  // notebook long-polls would otherwise queue behind each other.
  const opts = { keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' as const };
  return { httpAgent: new Agent(opts), httpsAgent: new HttpsAgent(opts) };
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

export function handleWeb(ctx: Context, req: IncomingMessage, res: ServerResponse): void {
  ctx.metrics.webRequests.inc();
  const url = req.url ?? '/';
  if (url === '/_chp_healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(HEALTHZ_BODY);
    return;
  }
  const { options, table } = ctx;
  const parsed = parseRequestUrl(url, options.hostRouting, req.headers.host);
  if (parsed === null) return fail(ctx, 400, req, res);
  const route = table.lookup(parsed.lookupPath);
  if (route === undefined) return fail(ctx, 404, req, res);

  const path = options.includePrefix ? parsed.rawPath : stripPrefix(parsed.rawPath, route, options.hostRouting);
  const target = route.target;
  const outPath = (options.prependPath ? joinPath(target.pathname, path) : path || '/') + parsed.search;
  const headers = rewriteHeaders(req, ctx.rewrite, 'web', route.isHub) as OutgoingHttpHeaders;
  for (const h of ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']) {
    if (headers[h] !== undefined) delete headers[h];
  }
  const withBody = hasBody(req);
  if (withBody) req.on('data', () => { route.lastActivity = Date.now(); });
  send(ctx, req, res, route, outPath, headers, withBody, false);
}

function send(
  ctx: Context,
  req: IncomingMessage,
  res: ServerResponse,
  route: Route,
  path: string,
  headers: OutgoingHttpHeaders,
  withBody: boolean,
  isRetry: boolean,
): void {
  const target = route.target;
  const https = target.protocol === 'https:';
  const upstream = (https ? httpsRequest : httpRequest)({
    protocol: target.protocol,
    hostname: target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname,
    port: target.port || (https ? 443 : 80),
    method: req.method,
    path,
    headers,
    agent: https ? ctx.httpsAgent : ctx.httpAgent,
    setHost: false,
  });
  let timedOut = false;
  let done = false;
  if (ctx.options.proxyTimeoutMs > 0) {
    upstream.setTimeout(ctx.options.proxyTimeoutMs, () => {
      timedOut = true;
      upstream.destroy();
    });
  }
  upstream.on('response', (ur) => {
    const raw = ur.rawHeaders;
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
    }
    if (res.destroyed) {
      ur.resume();
      return;
    }
    const status = ur.statusCode ?? 502;
    res.writeHead(status, ur.statusMessage || undefined, out);
    // Hand-rolled instead of pipe(): pipe() adds and removes seven listeners per request.
    ur.on('data', (chunk: Buffer) => {
      if (!res.write(chunk)) {
        ur.pause();
        res.once('drain', () => ur.resume());
      }
    });
    ur.on('end', () => {
      done = true;
      // CHP counts only successful responses as activity, so errors and redirects don't keep
      // an abandoned server alive.
      if (status < 300) route.lastActivity = Date.now();
      res.end();
    });
    ur.on('error', () => res.destroy());
    ur.on('aborted', () => res.destroy());
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    if (done || res.destroyed) return;
    // A pooled connection the target closed just as we reused it: safe to retry once if the
    // request had no body, which is what node's docs recommend for keep-alive agents.
    if (!isRetry && !withBody && !timedOut && upstream.reusedSocket && err.code === 'ECONNRESET' && !res.headersSent) {
      send(ctx, req, res, route, path, headers, withBody, true);
      return;
    }
    const code = timedOut ? 504 : DOWN_CODES.has(err.code ?? '') ? 503 : 502;
    if (!res.headersSent) {
      ctx.log.warn({ code, method: req.method, url: req.url, target: route.data.target, err: err.message }, 'proxy error');
    }
    fail(ctx, code, req, res);
  });
  res.on('close', () => {
    // the client went away before the target finished: release the target too
    if (!res.writableFinished && !done) upstream.destroy();
  });
  if (withBody && !isRetry) req.pipe(upstream);
  else upstream.end();
}

export function fail(ctx: Context, code: number, req: IncomingMessage, res: ServerResponse): void {
  ctx.metrics.error(code);
  if (code === 404 || code === 400) ctx.log.debug({ code, url: req.url }, 'not routed');
  ctx.errors.send(code, req, res);
}
