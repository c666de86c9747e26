/**
 * The one way the hub sends a browser elsewhere. Every Location the hub writes goes through
 * headerSafeUrl (a crafted link with a non-Latin-1 character or CR/LF must give a redirect or a
 * 400, never Node's ERR_INVALID_CHAR 500), every user-supplied `next` through safeNext (same site,
 * under the deployment prefix), and every user-supplied path tail through pathTailProblem (no
 * segment that a browser or proxy would resolve into another user's URL).
 */
import type { FastifyReply } from 'fastify';
import type { HubContext } from '../context.js';
import { headerSafeUrl } from '../../shared/url-text.js';

export { encodeComponent, headerSafeUrl } from '../../shared/url-text.js';

const NEXT_MAX = 4000;
const PARSE_BASE = 'http://atrium.invalid';

export function redirect(reply: FastifyReply, url: string, code = 302): FastifyReply {
  return reply.redirect(headerSafeUrl(url), code);
}

/**
 * A `next` target made safe: a same-site absolute path under the deployment prefix, normalised
 * and percent-encoded as a URL parser would send it, or null (the caller picks its default).
 */
export function safeNext(hub: HubContext, next: unknown): string | null {
  if (typeof next !== 'string' || !next || next.length > NEXT_MAX) return null;
  // A backslash is a slash to browsers ("/\evil" is "//evil"); controls never belong in a path.
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return null;
  if (!next.startsWith('/') || next.startsWith('//')) return null;
  let u: URL;
  try {
    u = new URL(next, PARSE_BASE);
  } catch {
    return null;
  }
  if (u.origin !== PARSE_BASE) return null;
  const out = headerSafeUrl(u.pathname + u.search + u.hash);
  if (!out.startsWith(hub.urls.base) || out.startsWith('//')) return null;
  return out;
}

/**
 * Why a path tail taken from the request (user-redirect, /hub/user/NAME/...) cannot be appended
 * to a server prefix, or null. A dot segment, raw or percent-encoded, or an encoded slash would
 * let /user/alice/<tail> resolve to another user's URL at the browser or at a proxy.
 */
export function pathTailProblem(path: string): string | null {
  for (const seg of path.split(/[/\\]/)) {
    if (/%(2f|5c)/i.test(seg)) return 'The path may not contain an encoded slash.';
    let decoded: string;
    try {
      decoded = decodeURIComponent(seg);
    } catch {
      return 'The path is not valid percent-encoded UTF-8.';
    }
    if (/^\.+$/.test(decoded) && decoded.length <= 2) return 'The path may not contain "." or ".." segments.';
  }
  if (path.includes('\\')) return 'The path may not contain a backslash.';
  return null;
}
