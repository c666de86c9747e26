import type { FastifyRequest } from 'fastify';
import { atriumError } from '../errors.js';

/**
 * The request body as JSON (as JupyterHub reads it, whatever the Content-Type, except that a form
 * type is a 415): an empty body is null, invalid JSON is a 400 that says so.
 */
export function jsonBody(req: FastifyRequest): unknown {
  const b = req.body;
  if (b === undefined || b === null) return null;
  // A form body was parsed into fields, so its JSON text is lost: refuse it rather than act as
  // if nothing was asked (a token request would otherwise get every scope of its owner).
  const type = String(req.headers['content-type'] ?? '').toLowerCase();
  if (/^\s*(application\/x-www-form-urlencoded|multipart\/form-data)\b/.test(type)) {
    if (typeof b === 'object' && !Buffer.isBuffer(b) && Object.keys(b).length === 0) return null;
    if (typeof b === 'string' && !b.trim()) return null;
    throw atriumError('ATRIUM_ERR_HTTP_UNSUPPORTED_MEDIA', 'The API takes JSON request bodies: send Content-Type: application/json');
  }
  if (typeof b === 'string' || Buffer.isBuffer(b)) {
    const text = b.toString().trim();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      throw atriumError('ATRIUM_ERR_HTTP_BAD_JSON');
    }
  }
  return b;
}

export function objectBody(req: FastifyRequest): Record<string, unknown> {
  const b = jsonBody(req);
  if (b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'Request body must be a JSON object');
  return b as Record<string, unknown>;
}

export function stringList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `${what} must be a list of strings`);
  }
  return v as string[];
}
