/**
 * GET /hub/api/spawner/resources: the spawner kind's free-resources table for the caller (e.g.
 * Slurm: free cores, memory, GPUs and the longest walltime per partition they may choose). The spawn
 * page polls it with the login cookie; tokens work too. The kind caches its backend answers, so
 * polling users cost the backend little. Kinds without a table answer 404.
 */
import type { FastifyInstance } from 'fastify';
import { atriumError } from '../errors.js';
import { authenticated, needsScope } from './guard.js';

/** How long the JSON may be reused by the browser (the kind's own cache is the one that matters). */
const MAX_AGE_SECONDS = 2;

export async function resourcesApi(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  app.get('/api/spawner/resources', async (req, reply) => {
    // Whoever may start their own server may see what they could start it on.
    const caller = authenticated(hub, req).user;
    const { ident } = needsScope(hub, req, ['servers', 'read:servers'], { user: caller.name });
    const kind = hub.spawnerKind;
    if (!kind.resources) throw atriumError('ATRIUM_ERR_HTTP_NOT_FOUND', 'This spawner has no resource table');
    let table;
    try {
      table = await kind.resources(hub.spawnerOptions, hub.spawns.spawnUser(ident.user));
    } catch (err) {
      throw atriumError('ATRIUM_ERR_SPAWNER_UNAVAILABLE', undefined, { detail: String(err), headers: { 'Retry-After': '5' } });
    }
    reply.header('Cache-Control', `private, max-age=${MAX_AGE_SECONDS}`);
    return table;
  });
}
