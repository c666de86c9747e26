/**
 * The signed-in user for pages the app renders itself (the 404 page), so they keep the
 * navigation bar. Only the session cookie counts (no auto-login from headers on a 404), and a
 * database that cannot answer just means a page without navigation.
 */
import type { FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { sessionFromCookie } from '../auth/identity.js';

export function signedIn(hub: HubContext, req: FastifyRequest): UserRow | null {
  try {
    return sessionFromCookie(hub, req)?.user ?? null;
  } catch {
    return null;
  }
}
