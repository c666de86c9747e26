/**
 * Who may see and change things on the admin pages. The page needs the `admin-ui` scope; every
 * state change needs a valid _xsrf field bound to the session and the same scope the REST API
 * asks for (admin:users, admin:groups, servers, ...), checked here on the server — a hidden button
 * is not a permission.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { checkXsrf } from '../auth/session.js';
import { groupsResolver, userScopes } from '../auth/identity.js';
import { checkScopes, type Resource } from '../auth/scopes.js';
import { atriumError } from '../errors.js';
import { renderThrown } from './error-page.js';
import { pageUser, redirectToLogin } from './login.js';

export type FormBody = Record<string, unknown>;

export function holds(hub: HubContext, me: UserRow, scope: string, res: Resource = {}): boolean {
  const v = checkScopes(userScopes(me), [scope], res, groupsResolver(hub));
  return v === 'ok' || v === 'filter';
}

/** The signed-in admin, or null after sending the login redirect or a 403 page. */
export async function adminViewer(hub: HubContext, req: FastifyRequest, reply: FastifyReply): Promise<UserRow | null> {
  const me = await pageUser(hub, req, reply);
  if (!me) {
    redirectToLogin(hub, req, reply);
    return null;
  }
  if (!holds(hub, me, 'admin-ui')) {
    renderThrown(hub, reply, atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', 'The admin page is for administrators.'), me);
    return null;
  }
  return me;
}

/**
 * A state-changing admin form post: the admin, the form body, or null when a page was sent.
 * `scope` is checked against `res` like the matching API route does.
 */
export async function adminAction(
  hub: HubContext,
  req: FastifyRequest,
  reply: FastifyReply,
  scope: string,
  res: Resource = {},
): Promise<{ me: UserRow; body: FormBody } | null> {
  const me = await adminViewer(hub, req, reply);
  if (!me) return null;
  const body = (typeof req.body === 'object' && req.body ? req.body : {}) as FormBody;
  checkXsrf(hub, req, body._xsrf);
  if (!holds(hub, me, scope, res)) {
    renderThrown(hub, reply, atriumError('ATRIUM_ERR_AUTH_SCOPE', `This needs the ${scope} scope.`), me);
    return null;
  }
  return { me, body };
}

export const str = (v: unknown): string => (typeof v === 'string' ? v : '');
