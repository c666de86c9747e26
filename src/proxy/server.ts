/**
 * Composes the three listeners: public proxy, REST API, optional metrics.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { createApiHandler } from './api.js';
import { ErrorPages } from './error-pages.js';
import { createLeanPath, type LeanPath } from './fast-path.js';
import { createAgents, handleWeb, type Context } from './forward.js';
import { ProxyMetrics } from './metrics.js';
import type { ProxyOptions } from './options.js';
import { RouteTable } from './routes.js';
import { handleUpgrade } from './tunnel.js';

export interface RunningProxy {
  table: RouteTable;
  proxyPort: number;
  apiPort: number;
  metricsPort?: number;
  close(): Promise<void>;
}

export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host || undefined, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** The public listener (HTTP or HTTPS, websockets) over `table`; listening is left to the caller. */
export function createPublicServer(options: ProxyOptions, table: RouteTable, metrics: ProxyMetrics, log: Logger): { server: Server; closeAgents(): Promise<void> } {
  const agents = createAgents(options);
  const encrypted = Boolean(options.sslKey && options.sslCert);
  const ctx: Context = {
    table,
    options,
    metrics,
    log,
    ...agents,
    errors: new ErrorPages(options.errorTarget, options.errorPath, agents.httpAgent, log),
    rewrite: {
      xForward: options.xForward,
      encrypted,
      customHeaders: options.customHeaders,
      hasCustomHeaders: Object.keys(options.customHeaders).length > 0,
      proxyProof: options.proxyProof,
    },
  };
  const onRequest = handleWeb.bind(null, ctx);
  const proxyServer: Server = encrypted
    ? createHttpsServer({
        key: readFileSync(options.sslKey!),
        cert: readFileSync(options.sslCert!),
        ...(options.sslCa ? { ca: readFileSync(options.sslCa) } : {}),
      }, onRequest)
    : createHttpServer(onRequest);
  proxyServer.on('upgrade', handleUpgrade.bind(null, ctx));
  // The lean path sees every plain-HTTP connection first and hands node's server the ones (and
  // the bytes) it does not take; see fast-path.ts.
  let lean: LeanPath | undefined;
  if (!encrypted && options.fastPath) {
    const nodeConnection = proxyServer.listeners('connection')[0] as (socket: Socket) => void;
    proxyServer.removeListener('connection', nodeConnection);
    lean = createLeanPath(ctx, (socket, pending) => {
      nodeConnection.call(proxyServer, socket);
      if (pending !== null) socket.emit('data', pending);
    });
    proxyServer.on('connection', lean.accept);
    const closeAll = proxyServer.closeAllConnections.bind(proxyServer);
    proxyServer.closeAllConnections = () => {
      closeAll();
      lean?.closeAll();
    };
  }
  proxyServer.keepAliveTimeout = options.keepAliveTimeoutMs;
  if (options.timeoutMs > 0) proxyServer.timeout = options.timeoutMs;
  // Slow or stuck clients must not hold sockets forever; node's defaults stay for headers.
  proxyServer.requestTimeout = 0;
  proxyServer.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const code = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large'
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${code}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  return {
    server: proxyServer,
    async closeAgents() {
      lean?.closeAll();
      agents.httpAgent.destroy();
      agents.httpsAgent.destroy();
      await agents.upstream.destroy().catch(() => undefined);
    },
  };
}

/** The Prometheus listener: `/metrics` from `text()`, 404 elsewhere. */
export function createMetricsServer(text: () => Promise<string>, contentType: string): Server {
  return createHttpServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('Not Found');
      return;
    }
    text().then(
      (body) => res.writeHead(200, { 'content-type': contentType }).end(body),
      () => res.writeHead(500).end('metrics failed'),
    );
  });
}

export async function closeServers(servers: (Server | undefined)[]): Promise<void> {
  const closing = servers.filter((s): s is Server => s !== undefined);
  for (const s of closing) s.closeAllConnections?.();
  await Promise.all(closing.map((s) => new Promise<void>((r) => s.close(() => r()))));
}

/** One process serving everything (the default, `--workers 1`); see cluster.ts for several. */
export async function startProxy(options: ProxyOptions, log: Logger): Promise<RunningProxy> {
  const table = new RouteTable();
  const metrics = new ProxyMetrics(table);
  if (options.defaultTarget) table.set('/', { target: options.defaultTarget });
  const pub = createPublicServer(options, table, metrics, log);
  const proxyServer = pub.server;

  const apiServer = createHttpServer(createApiHandler({
    table, authToken: options.authToken, hostRouting: options.hostRouting, metrics, log,
  }));

  const metricsServer = options.metricsPort !== undefined
    ? createMetricsServer(() => metrics.registry.metrics(), metrics.registry.contentType)
    : undefined;

  const proxyPort = await listen(proxyServer, options.port, options.ip);
  const apiPort = await listen(apiServer, options.apiPort, options.apiIp);
  const metricsPort = metricsServer ? await listen(metricsServer, options.metricsPort!, options.metricsIp) : undefined;
  log.info({ ip: options.ip || '*', port: proxyPort, tls: Boolean(options.sslKey && options.sslCert) }, 'proxying');
  log.info({ ip: options.apiIp, port: apiPort }, 'REST API listening');
  if (metricsPort !== undefined) log.info({ ip: options.metricsIp || '*', port: metricsPort }, 'metrics listening');
  if (!options.authToken) log.warn('REST API is not authenticated: CONFIGPROXY_AUTH_TOKEN is empty');

  return {
    table,
    proxyPort,
    apiPort,
    metricsPort,
    async close() {
      await closeServers([proxyServer, apiServer, metricsServer]);
      await pub.closeAgents();
    },
  };
}
