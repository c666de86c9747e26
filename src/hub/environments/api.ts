/**
 * /hub/api/environments: the catalogue over REST (scope `environments`, filtered to the caller's
 * course groups for teaching staff), and /hub/api/users/:name/environments: what that user is
 * offered right now (the same rule the spawn check applies).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import { needsScope, userOr404 } from '../api/guard.js';
import { objectBody } from '../api/body.js';
import { groupsResolver, type Identity } from '../auth/identity.js';
import { atriumError } from '../errors.js';
import { mayManageGroups } from '../staff/role.js';
import { preloadsOf } from '../images/registry.js';
import { checkDefinition, environmentsOf, type Environment } from './catalogue.js';

export function environmentModel(hub: HubContext, env: Environment): Record<string, unknown> {
  const r = preloadsOf(hub)?.readiness(env.image);
  return { ...env, preload: r ? { ready: r.ready, total: r.total, tracked: r.tracked } : null };
}

export function manageable(hub: HubContext, ident: Identity, env: Environment): boolean {
  return mayManageGroups(ident.scopes, env.groups, groupsResolver(hub));
}

/** Create or update from a body or a form; refuses groups the caller does not teach. */
export function saveEnvironment(hub: HubContext, ident: Identity, input: Record<string, unknown>, existing?: Environment): Environment {
  const store = environmentsOf(hub.stores.db);
  const def = checkDefinition(input, { mayBind: Boolean(ident.user.admin), base: existing });
  if (!mayManageGroups(ident.scopes, def.groups, groupsResolver(hub))) {
    throw atriumError('ATRIUM_ERR_STAFF_NOT_YOURS', def.groups.length
      ? `You may define environments only for your own course groups (not ${def.groups.join(', ')})`
      : 'Teaching staff must name at least one of their course groups');
  }
  const saved = existing ? store.replace(existing.name, def) : store.create(def, ident.user.name);
  hub.log.info({ by: ident.user.name, environment: saved.name, groups: saved.groups }, existing ? 'environment updated' : 'environment created');
  return saved;
}

export async function environmentsApi(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  const store = () => environmentsOf(hub.stores.db);

  const mine = (req: FastifyRequest<{ Params: { name: string } }>) => {
    const { ident } = needsScope(hub, req, ['environments']);
    const env = store().get(req.params.name);
    // Another course's environment is "not found", so its name does not leak.
    if (!env || !manageable(hub, ident, env)) throw atriumError('ATRIUM_ERR_ENV_NOT_FOUND');
    return { ident, env };
  };

  app.get('/api/environments', async (req) => {
    const { ident } = needsScope(hub, req, ['environments']);
    return { environments: store().list().filter((e) => manageable(hub, ident, e)).map((e) => environmentModel(hub, e)) };
  });

  app.post('/api/environments', async (req, reply) => {
    const { ident } = needsScope(hub, req, ['environments']);
    const env = saveEnvironment(hub, ident, objectBody(req));
    reply.code(201);
    return environmentModel(hub, env);
  });

  app.get<{ Params: { name: string } }>('/api/environments/:name', async (req) => environmentModel(hub, mine(req).env));

  app.patch<{ Params: { name: string } }>('/api/environments/:name', async (req) => {
    const { ident, env } = mine(req);
    return environmentModel(hub, saveEnvironment(hub, ident, objectBody(req), env));
  });

  app.delete<{ Params: { name: string } }>('/api/environments/:name', async (req, reply) => {
    const { ident, env } = mine(req);
    store().delete(env.name);
    hub.log.info({ by: ident.user.name, environment: env.name }, 'environment deleted');
    reply.code(204);
    return '';
  });

  app.get<{ Params: { name: string } }>('/api/users/:name/environments', async (req) => {
    needsScope(hub, req, ['read:users'], { user: req.params.name });
    const user = userOr404(hub, req.params.name);
    const groups = hub.stores.groups.groupsOf(user.id);
    return { environments: store().offeredTo({ name: user.name, groups }).map((e) => environmentModel(hub, e)) };
  });
}
