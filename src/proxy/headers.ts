/**
 * Request-header rewriting shared by the HTTP and websocket paths: X-Forwarded-* (appended, as
 * http-proxy does), custom headers, stripping the hub's session cookies from traffic to
 * anything that is not the hub, and the proxy proof that lets the hub believe X-Forwarded-For.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** Cookies that authenticate a browser to the hub; a user server must never see them. */
export const HUB_COOKIE_NAMES = ['jupyterhub-hub-login', 'atrium-hub-login', 'atrium-session-id'];

const COOKIE_HINT = /jupyterhub-hub-login|atrium-hub-login|atrium-session-id/;

/**
 * Proves to the hub that a request came through this proxy (so its X-Forwarded-For is ours).
 * Set on hub routes only, and removed from everything a client sends, on every route: a user
 * server must never see the real proof, and a forged one must never reach the hub.
 */
export const PROOF_HEADER = 'x-atrium-proxy-proof';

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
  /** The secret shared with the hub (ATRIUM_PROXY_PROOF / --proxy-proof-file); absent = none sent. */
  proxyProof?: string;
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
  // After the custom headers, so not even a --custom-header can put a proof on a user route.
  if (headers[PROOF_HEADER] !== undefined) delete headers[PROOF_HEADER];
  if (isHubRoute && opts.proxyProof) headers[PROOF_HEADER] = opts.proxyProof;
  return headers;
}
