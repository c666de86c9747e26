/**
 * POST /hub/api/batchspawner: a server that learns its port only after it starts (a Slurm job)
 * reports it here with its own token. batchspawner's path, so batchspawner-singleuser wrappers
 * work unchanged — but unlike batchspawner (which sets any attribute it is sent on the spawner),
 * only `{"port": N}` plus an optional `"host"` is accepted, only with a server token (one the hub
 * issued for that very server), and only while that server's spawn is waiting. The spawner then
 * checks the host against where the job actually runs.
 */
import type { FastifyInstance } from 'fastify';
import { findToken, headerToken } from '../auth/identity.js';
import { atriumError, hasCode } from '../errors.js';
import { objectBody } from './body.js';

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|[0-9a-fA-F:.]{2,45})$/;

export async function spawnerReportApi(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  app.post('/api/batchspawner', async (req, reply) => {
    const raw = headerToken(req);
    const found = raw ? findToken(hub, raw) : null;
    // Only a server's own token (server_id set) may say where that server listens.
    if (!found || found.token.server_id === null) throw atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', 'A server token is required to report a port');
    const server = hub.stores.servers.getById(found.token.server_id);
    if (!server || server.user_id !== found.user.id) throw atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', 'A server token is required to report a port');

    const body = objectBody(req);
    const extra = Object.keys(body).filter((k) => k !== 'port' && k !== 'host');
    if (extra.length > 0) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `Only "port" and "host" may be reported, not: ${extra.slice(0, 5).join(', ').slice(0, 200)}`);
    const port = body.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', '"port" must be an integer from 1 to 65535');
    }
    const host = body.host ?? null;
    if (host !== null && (typeof host !== 'string' || host.length > 253 || !HOST.test(host))) {
      throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', '"host" must be a host name or an IP address');
    }

    const active = hub.spawns.get(found.user.name, server.name);
    const spawner = active?.phase === 'spawn' ? active.spawner : null;
    if (!spawner?.report) throw atriumError('ATRIUM_ERR_SERVER_NOT_STARTING', 'This server is not waiting for a port report');
    try {
      // The TCP peer, never X-Forwarded-For: a client can write that header.
      await spawner.report({ host, port, peer: req.socket.remoteAddress ?? '' });
    } catch (err) {
      if (hasCode(err, 'ATRIUM_ERR_SPAWN_FAILED')) throw atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', `Port report refused: ${err.message}`);
      throw err;
    }
    return reply.code(200).type('application/json').send({ status: 200, message: 'Port accepted' });
  });
}
