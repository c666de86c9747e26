/**
 * Request-header rewriting shared by the HTTP and websocket paths: X-Forwarded-* (appended, as
 * http-proxy does), custom headers, and stripping the hub's session cookies from traffic to
 * anything that is not the hub.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** Cookies that authenticate a browser to the hub; a user server must never see them. */
export const HUB_COOKIE_NAMES = ['jupyterhub-hub-login', 'atrium-hub-login', 'atrium-session-id'];

const COOKIE_HINT = /jupyterhub-hub-login|atrium-hub-login|atrium-session-id/;

/** Remove hub cookies from a Cookie header; undefined when nothing is left. */
export function stripHubCookies(cookie: string): string | undefined {
  if (!COOKIE_HINT.test(cookie)) return cookie;
  const kept: string[] = [];
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (name === '' || HUB_COOKIE_NAMES.includes(name)) continue;
    kept.push(part.trim());
  }
  return kept.length ? kept.join('; ') : undefined;
}

function append(headers: IncomingHttpHeaders, name: string, value: string): void {
  const prev = headers[name];
  headers[name] = prev === undefined || prev === '' ? value : `${String(prev)},${value}`;
}

export interface RewriteOptions {
  xForward: boolean;
  encrypted: boolean;
  customHeaders: Record<string, string>;
  hasCustomHeaders: boolean;
}

/**
 * Mutates and returns `req.headers` (node builds a fresh object per request, so reusing it saves
 * an allocation). Hop-by-hop headers are left to the caller because web and upgrade differ.
 */
export function rewriteHeaders(
  req: IncomingMessage,
  opts: RewriteOptions,
  kind: 'web' | 'ws',
  isHubRoute: boolean,
): IncomingHttpHeaders {
  const headers = req.headers;
  if (!isHubRoute && headers.cookie !== undefined) {
    const cookie = stripHubCookies(headers.cookie);
    if (cookie === undefined) delete headers.cookie;
    else headers.cookie = cookie;
  }
  if (opts.xForward) {
    const host = headers.host;
    const m = host ? /:(\d+)$/.exec(host) : null;
    append(headers, 'x-forwarded-for', req.socket.remoteAddress ?? '');
    append(headers, 'x-forwarded-port', m ? m[1]! : opts.encrypted ? '443' : '80');
    if (kind === 'web') {
      append(headers, 'x-forwarded-proto', opts.encrypted ? 'https' : 'http');
      // http-proxy only fills x-forwarded-host when absent, and never for websockets.
      if (headers['x-forwarded-host'] === undefined && host !== undefined) headers['x-forwarded-host'] = host;
    } else {
      append(headers, 'x-forwarded-proto', opts.encrypted ? 'wss' : 'ws');
    }
  }
  if (opts.hasCustomHeaders) {
    for (const k in opts.customHeaders) headers[k] = opts.customHeaders[k];
  }
  return headers;
}
