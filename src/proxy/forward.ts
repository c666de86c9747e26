/**
 * The HTTP request path: route lookup, header rewrite, one request to the target over a pooled
 * keep-alive connection (undici's HTTP/1.1 client), streamed both ways. Nothing here logs at info
 * level: it runs per request.
 */
import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Agent as UndiciAgent, buildConnector, type Dispatcher } from 'undici';
import { detachableBody, keepReadingAfterWriteError, lingerAfterEarlyResponse } from './early-response.js';
import type { ErrorPages } from './error-pages.js';
import { rewriteHeaders, type RewriteOptions } from './headers.js';
import type { ProxyMetrics } from './metrics.js';
import type { ProxyOptions } from './options.js';
import { joinPath, parseRequestUrl, stripPrefix } from './request-path.js';
import type { Route, RouteTable } from './routes.js';

/** Connection-scoped headers never forwarded in either direction (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'transfer-encoding']);

/**
 * Request headers not forwarded: hop-by-hop ones, plus Expect (node's server has already
 * answered "100 Continue" to the client, so the body is coming; undici refuses the header).
 */
const DROP_REQUEST = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'transfer-encoding', 'expect'];

/** Connect-time failures mean "nobody is serving this route": 503, like CHP. */
const DOWN_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);

/** Our own --proxy-timeout firing before the target answered: 504. */
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

const HEALTHZ_BODY = JSON.stringify({ status: 'OK' });

export interface Context {
  table: RouteTable;
  options: ProxyOptions;
  metrics: ProxyMetrics;
  errors: ErrorPages;
  log: Logger;
  /** node:http agents: only the error-page fetches use them now. */
  httpAgent: Agent;
  httpsAgent: HttpsAgent;
  /** The upstream client for proxied HTTP requests (one connection pool per target origin). */
  upstream: UndiciAgent;
  rewrite: RewriteOptions;
}

export function createAgents(options: Pick<ProxyOptions, 'proxyTimeoutMs'>): { httpAgent: Agent; httpsAgent: HttpsAgent; upstream: UndiciAgent } {
  // lifo keeps a few hot sockets busy and lets the rest idle out; no maxSockets cap because
  // notebook long-polls would otherwise queue behind each other.
  const opts = { keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' as const };
  const timeout = options.proxyTimeoutMs > 0 ? options.proxyTimeoutMs : 0;
  const connector = buildConnector({ timeout, noDelay: true });
  const upstream = new UndiciAgent({
    // no cap on connections per origin, for the same long-poll reason; no pipelining (a slow
    // response must never hold up the next request on its connection)
    connections: null,
    pipelining: 1,
    // --proxy-timeout covers connect, waiting for the head and gaps in the body, like node's
    // socket timeout did; 0 (the default) means none, as in CHP (undici's own default is 300 s)
    headersTimeout: timeout,
    bodyTimeout: timeout,
    connect: (opts, cb) => connector(opts, (err, socket) => {
      if (err !== null || socket === null) return cb(err ?? new Error('no socket'), null);
      keepReadingAfterWriteError(socket as Socket);
      cb(null, socket);
    }),
  });
  return { httpAgent: new Agent(opts), httpsAgent: new HttpsAgent(opts), upstream };
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
  const withBody = hasBody(req);
  const headers = rewriteHeaders(req, ctx.rewrite, 'web', route.isHub);
  for (let i = 0; i < DROP_REQUEST.length; i++) {
    if (headers[DROP_REQUEST[i]!] !== undefined) delete headers[DROP_REQUEST[i]!];
  }
  const exchange = new Exchange(ctx, req, res, route, withBody);
  res.on('close', exchange.onClientClose);
  exchange.dispatch({ origin: route.origin, path: outPath, method: req.method as Dispatcher.HttpMethod, headers: headers as Record<string, string | string[]>, body: withBody ? detachableBody(req) : null });
}

/**
 * One proxied request, as an undici dispatch handler (the callback interface undici drives
 * internally, so no Readable or promise is built per request). The response head is written with
 * the target's raw header names in one flat array; the first body chunk goes out in the same
 * write as the head.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private status = 0;
  private started = false;
  private done = false;
  private retried = false;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private opts: Dispatcher.DispatchOptions | null = null;

  constructor(
    private readonly ctx: Context,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly route: Route,
    private readonly withBody: boolean,
  ) {}

  dispatch(opts: Dispatcher.DispatchOptions): void {
    this.opts = opts;
    this.ctx.upstream.dispatch(opts, this);
  }

  /** The client went away before the target finished: release the target too. */
  readonly onClientClose = (): void => {
    if (!this.done && !this.res.writableFinished) this.abortUpstream?.();
  };

  private readonly onDrain = (): void => {
    this.resumeUpstream?.();
  };

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.res.destroyed) abort();
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    if (status < 200) return true; // 1xx informational: not relayed (node's client did not either)
    const res = this.res;
    if (res.destroyed) {
      this.abortUpstream?.();
      return false;
    }
    this.started = true;
    this.status = status;
    this.resumeUpstream = resume;
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1');
      if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, raw[i + 1]!.toString('latin1'));
    }
    res.writeHead(status, statusText || undefined, out);
    return true;
  }

  /** Upload progress counts as activity (undici reads the request body itself). */
  onBodySent(): void {
    this.route.lastActivity = Date.now();
  }

  onData(chunk: Buffer): boolean {
    const ok = this.res.write(chunk);
    if (!ok) this.res.once('drain', this.onDrain);
    return ok;
  }

  onComplete(): void {
    this.done = true;
    // CHP counts only successful responses as activity, so errors and redirects don't keep an
    // abandoned server alive.
    if (this.status < 300) this.route.lastActivity = Date.now();
    this.res.end();
    if (this.withBody) lingerAfterEarlyResponse(this.req);
  }

  onError(err: Error & { code?: string; socket?: { bytesRead?: number } }): void {
    const { ctx, req, res } = this;
    if (this.done || res.destroyed) return;
    this.done = true;
    const code = err.code ?? '';
    // A pooled connection the target closed just as we reused it (it had carried earlier
    // responses, and none to this request): safe to retry once if the request had no body.
    if (!this.retried && !this.withBody && !this.started && !res.headersSent
      && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') && (err.socket?.bytesRead ?? 0) > 0) {
      this.retried = true;
      this.done = false;
      this.abortUpstream = null;
      ctx.upstream.dispatch(this.opts!, this);
      return;
    }
    const status = TIMEOUT_CODES.has(code) ? 504 : DOWN_CODES.has(code) ? 503 : 502;
    if (!res.headersSent) {
      ctx.log.warn({ code: status, method: req.method, url: req.url, target: this.route.data.target, err: err.message }, 'proxy error');
    }
    fail(ctx, status, req, res);
    if (this.withBody) lingerAfterEarlyResponse(req);
  }
}

export function fail(ctx: Context, code: number, req: IncomingMessage, res: ServerResponse): void {
  ctx.metrics.error(code);
  if (code === 404 || code === 400) ctx.log.debug({ code, url: req.url }, 'not routed');
  ctx.errors.send(code, req, res);
}
