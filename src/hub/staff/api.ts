/**
 * /hub/api/warm-starts: schedule, list and cancel warm starts. Needs `servers` for the group
 * (admins: every group; teaching staff: their course groups).
 */
import type { FastifyInstance } from 'fastify';
import type { HubContext } from '../context.js';
import { needsScope } from '../api/guard.js';
import { objectBody } from '../api/body.js';
import { groupsResolver, type Identity } from '../auth/identity.js';
import { checkScopes } from '../auth/scopes.js';
import { atriumError } from '../errors.js';
import { staffGroupsOf } from './role.js';
import { warmOf } from './warm.js';

export function mayRunGroup(hub: HubContext, ident: Identity, group: string): boolean {
  return checkScopes(ident.scopes, ['servers'], { group }, groupsResolver(hub)) === 'ok';
}

/** Groups whose warm starts the caller sees: all for an unfiltered `servers`, else their course groups. */
export function visibleGroups(hub: HubContext, ident: Identity): string[] | undefined {
  if (checkScopes(ident.scopes, ['servers'], {}, groupsResolver(hub)) === 'ok') return undefined;
  return staffGroupsOf(hub.config, ident.user.name);
}

export async function warmApi(app: FastifyInstance): Promise<void> {
  const hub = app.hub;

  app.get('/api/warm-starts', async (req) => {
    const { ident } = needsScope(hub, req, ['servers']);
    return { warmStarts: warmOf(hub).list(visibleGroups(hub, ident)) };
  });

  app.post('/api/warm-starts', async (req, reply) => {
    const { ident } = needsScope(hub, req, ['servers']);
    const body = objectBody(req);
    if (typeof body.group === 'string' && !mayRunGroup(hub, ident, body.group)) throw atriumError('ATRIUM_ERR_STAFF_NOT_YOURS');
    const w = warmOf(hub).schedule({ group: body.group, at: body.at, environment: body.environment }, ident.user.name);
    reply.code(201);
    return w;
  });

  app.delete<{ Params: { id: string } }>('/api/warm-starts/:id', async (req, reply) => {
    const { ident } = needsScope(hub, req, ['servers']);
    const w = /^\d{1,12}$/.test(req.params.id) ? warmOf(hub).get(Number(req.params.id)) : null;
    if (!w || !mayRunGroup(hub, ident, w.group)) throw atriumError('ATRIUM_ERR_HTTP_NOT_FOUND', 'No such warm start');
    warmOf(hub).cancel(w.id);
    reply.code(204);
    return '';
  });
}
