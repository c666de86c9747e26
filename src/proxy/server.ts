/**
 * Composes the three listeners: public proxy, REST API, optional metrics.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createApiHandler } from './api.js';
import { ErrorPages } from './error-pages.js';
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

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host || undefined, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function startProxy(options: ProxyOptions, log: Logger): Promise<RunningProxy> {
  const table = new RouteTable();
  const metrics = new ProxyMetrics(table);
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
  if (options.defaultTarget) table.set('/', { target: options.defaultTarget });

  const onRequest = handleWeb.bind(null, ctx);
  const proxyServer: Server = encrypted
    ? createHttpsServer({
        key: readFileSync(options.sslKey!),
        cert: readFileSync(options.sslCert!),
        ...(options.sslCa ? { ca: readFileSync(options.sslCa) } : {}),
      }, onRequest)
    : createHttpServer(onRequest);
  proxyServer.on('upgrade', handleUpgrade.bind(null, ctx));
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

  const apiServer = createHttpServer(createApiHandler({
    table, authToken: options.authToken, hostRouting: options.hostRouting, metrics, log,
  }));

  let metricsServer: Server | undefined;
  if (options.metricsPort !== undefined) {
    metricsServer = createHttpServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('Not Found');
        return;
      }
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end('metrics failed'),
      );
    });
  }

  const proxyPort = await listen(proxyServer, options.port, options.ip);
  const apiPort = await listen(apiServer, options.apiPort, options.apiIp);
  const metricsPort = metricsServer ? await listen(metricsServer, options.metricsPort!, options.metricsIp) : undefined;
  log.info({ ip: options.ip || '*', port: proxyPort, tls: encrypted }, 'proxying');
  log.info({ ip: options.apiIp, port: apiPort }, 'REST API listening');
  if (metricsPort !== undefined) log.info({ ip: options.metricsIp || '*', port: metricsPort }, 'metrics listening');
  if (!options.authToken) log.warn('REST API is not authenticated: CONFIGPROXY_AUTH_TOKEN is empty');

  return {
    table,
    proxyPort,
    apiPort,
    metricsPort,
    async close() {
      const closing = [proxyServer, apiServer, metricsServer].filter((s): s is Server => s !== undefined);
      for (const s of closing) s.closeAllConnections?.();
      await Promise.all(closing.map((s) => new Promise<void>((r) => s.close(() => r()))));
      agents.httpAgent.destroy();
      agents.httpsAgent.destroy();
      await agents.upstream.destroy().catch(() => undefined);
    },
  };
}
