/**
 * A thrown error as a page, for handlers that answer failures themselves (to keep the user's
 * navigation bar, or a form). Expected errors go through the hub's classifier; bugs are rethrown
 * so the app's error handler logs them once, with their stack.
 */
import type { FastifyReply } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { classifyError } from '../error-classify.js';
import { renderError } from './layout.js';

export function renderThrown(hub: HubContext, reply: FastifyReply, err: unknown, user?: UserRow | null) {
  const c = classifyError(err);
  if (!c.expected) throw err;
  reply.headers(c.headers);
  return renderError(hub, reply, c.status, c.message, user);
}
