/**
 * Websockets (any HTTP Upgrade): route like a web request, then write the request head to the
 * target ourselves and pipe raw bytes both ways. No frame parsing: the target's handshake answer,
 * including refusals, reaches the client unchanged.
 */
import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Context } from './forward.js';
import { rewriteHeaders } from './headers.js';
import { joinPath, parseRequestUrl, stripPrefix } from './request-path.js';

const DOWN_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);

function reject(socket: Socket, code: number, text: string): void {
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${code} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
  socket.destroySoon?.();
}

export function handleUpgrade(ctx: Context, req: IncomingMessage, socket: Socket, head: Buffer): void {
  ctx.metrics.wsRequests.inc();
  socket.on('error', () => socket.destroy());
  const { options, table } = ctx;
  const parsed = parseRequestUrl(req.url ?? '/', options.hostRouting, req.headers.host);
  if (parsed === null) {
    ctx.metrics.error(400);
    return reject(socket, 400, 'Bad Request');
  }
  const route = table.lookup(parsed.lookupPath);
  if (route === undefined) {
    ctx.metrics.error(404);
    return reject(socket, 404, 'Not Found');
  }
  const path = options.includePrefix ? parsed.rawPath : stripPrefix(parsed.rawPath, route, options.hostRouting);
  const target = route.target;
  const outPath = (options.prependPath ? joinPath(target.pathname, path) : path || '/') + parsed.search;
  const headers = rewriteHeaders(req, ctx.rewrite, 'ws', route.isHub);

  let lines = `${req.method ?? 'GET'} ${outPath} HTTP/1.1\r\n`;
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v) lines += `${name}: ${one}\r\n`;
    else lines += `${name}: ${v}\r\n`;
  }
  lines += '\r\n';

  const tls = target.protocol === 'https:' || target.protocol === 'wss:';
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = Number(target.port) || (tls ? 443 : 80);
  const upstream: Socket = tls ? tlsConnect({ host, port, servername: host }) : netConnect({ host, port });
  let connected = false;
  let counted = false;
  const touch = (): void => { route.lastActivity = Date.now(); };

  const connectTimer = ctx.options.proxyTimeoutMs > 0
    ? setTimeout(() => upstream.destroy(Object.assign(new Error('timeout'), { code: 'PROXY_TIMEOUT' })), ctx.options.proxyTimeoutMs)
    : undefined;

  upstream.once(tls ? 'secureConnect' : 'connect', () => {
    connected = true;
    if (connectTimer) clearTimeout(connectTimer);
    counted = true;
    ctx.metrics.openWebsockets.inc();
    upstream.setNoDelay(true);
    socket.setNoDelay(true);
    socket.setTimeout(0);
    upstream.write(lines);
    if (head.length) upstream.write(head);
    upstream.pipe(socket);
    socket.pipe(upstream);
    upstream.on('data', touch);
    socket.on('data', touch);
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    if (connectTimer) clearTimeout(connectTimer);
    if (!connected) {
      const code = err.code === 'PROXY_TIMEOUT' ? 504 : DOWN_CODES.has(err.code ?? '') ? 503 : 502;
      ctx.metrics.error(code);
      ctx.log.warn({ code, url: req.url, target: route.data.target, err: err.message }, 'websocket proxy error');
      reject(socket, code, code === 504 ? 'Gateway Timeout' : code === 503 ? 'Service Unavailable' : 'Bad Gateway');
      return;
    }
    socket.destroy();
  });
  // A clean close ends the other side (pipe flushes what is buffered); an error tears it down.
  upstream.on('close', (hadError) => {
    if (counted) {
      counted = false;
      ctx.metrics.openWebsockets.dec();
    }
    if (hadError) socket.destroy();
    else socket.end();
  });
  socket.on('close', (hadError) => {
    if (hadError || !connected) upstream.destroy();
    else upstream.end();
  });
}
