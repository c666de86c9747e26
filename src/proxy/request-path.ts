/**
 * Turning a request URL into the routing-table lookup key and the path sent to the target.
 */
import type { Route } from './routes.js';

export interface ParsedUrl {
  /** Raw path as received (still percent-encoded), no query. */
  rawPath: string;
  /** "?..." or "". */
  search: string;
  /** Decoded path, prefixed with "/host" under host routing. */
  lookupPath: string;
}

/** "scheme://authority" at the start of an absolute-form request target. */
const ABSOLUTE_FORM = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/;

/**
 * The request target in origin-form, byte for byte: no dot-segment resolution, no backslash
 * rewriting, no decoding. WHATWG `new URL()` would resolve "..", "%2e%2e" and "." segments,
 * which is how a route spec like "/user/mallory/.." used to become "/user" and catch other
 * users' URLs. null means the target is neither origin- nor absolute-form.
 */
export function originForm(url: string): string | null {
  if (url.charCodeAt(0) === 47 /* / */) return url;
  // absolute-form ("GET http://host/path"), which proxies must accept
  const m = ABSOLUTE_FORM.exec(url);
  if (m === null) return null;
  const rest = url.slice(m[0].length);
  return rest.charCodeAt(0) === 47 ? rest : '/' + rest;
}

/** null means the URL cannot be routed (malformed encoding or not origin-form): answer 400. */
export function parseRequestUrl(url: string, hostRouting: boolean, host: string | undefined): ParsedUrl | null {
  const u = originForm(url);
  if (u === null) return null;
  const q = u.indexOf('?');
  const rawPath = q < 0 ? u : u.slice(0, q);
  const search = q < 0 ? '' : u.slice(q);
  let decoded = rawPath;
  if (rawPath.includes('%')) {
    try {
      decoded = decodeURIComponent(rawPath);
    } catch {
      return null;
    }
  }
  if (hostRouting) {
    let h = host ?? '';
    const colon = h.lastIndexOf(':');
    if (colon > 0 && !h.endsWith(']')) h = h.slice(0, colon);
    decoded = '/' + h.toLowerCase() + decoded;
  }
  return { rawPath, search, lookupPath: decoded };
}

function countSegments(prefix: string): number {
  if (prefix === '/') return 0;
  let n = 0;
  for (let i = 0; i < prefix.length; i++) if (prefix.charCodeAt(i) === 47) n++;
  return n;
}

/**
 * The raw path with the route prefix removed (--no-include-prefix). Counting segments on the
 * raw path, rather than slicing by the decoded prefix's length as CHP does, keeps encoded names
 * and host-routing prefixes correct.
 */
export function stripPrefix(rawPath: string, route: Route, hostRouting: boolean): string {
  let segments = countSegments(route.prefix) - (hostRouting ? 1 : 0);
  if (segments <= 0) return rawPath;
  let i = 0;
  while (segments > 0 && i < rawPath.length) {
    i = rawPath.indexOf('/', i + 1);
    if (i < 0) return '';
    segments--;
  }
  return rawPath.slice(i);
}

/** Join the target's base path with the request path without doubling or dropping a slash. */
export function joinPath(base: string, path: string): string {
  if (base === '' || base === '/') return path === '' ? '/' : path;
  if (path === '' ) return base;
  const baseSlash = base.endsWith('/');
  const pathSlash = path.charCodeAt(0) === 47;
  if (baseSlash && pathSlash) return base + path.slice(1);
  if (!baseSlash && !pathSlash) return base + '/' + path;
  return base + path;
}
