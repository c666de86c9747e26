import type { FastifyRequest } from 'fastify';
import { atriumError } from '../errors.js';

/**
 * The request body as JSON, whatever the Content-Type (as JupyterHub reads it): an empty body is
 * null, invalid JSON is a 400 that says so.
 */
export function jsonBody(req: FastifyRequest): unknown {
  const b = req.body;
  if (b === undefined || b === null) return null;
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
