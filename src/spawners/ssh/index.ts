/** The SSH-tunnel spawner kind (spawner.kind: ssh): one process group per server on a remote host. */
import type { SpawnerKind } from '../spawner.js';
import type { SshSpawnerOptions } from './options.js';
import { SshSpawner } from './ssh-spawner.js';
import { closeSshConnections as closePool } from '../../shared/ssh/connection-pool.js';
import { closeForwardTunnels } from './forward-tunnel.js';
import { sweepSsh } from './sweep.js';

export const sshSpawnerKind: SpawnerKind<SshSpawnerOptions> = {
  kind: 'ssh',
  create: ({ options, user, serverName, log, authState }) => new SshSpawner(options, user, serverName, log.child({ spawner: 'ssh', user: user.name, server: serverName }), authState),
  sweep: ({ options, ownerPrefix, log }) => sweepSsh(options, ownerPrefix, log),
};

export { SshSpawner } from './ssh-spawner.js';
export { SshSpawnerOptions } from './options.js';
export { sshConnections } from '../../shared/ssh/connection-pool.js';

/**
 * The kind's shared resources end here (hub shutdown, tests simulating a new hub process): every
 * host connection and every forward tunnel. Servers keep running; the next spawner that needs a
 * host (a start, or restore() after a restart) connects again and rebuilds its tunnels.
 */
export async function closeSshConnections(): Promise<void> {
  closePool();
  await closeForwardTunnels();
}
export { checkHostKey, parseKnownHosts, fingerprint } from '../../shared/ssh/host-keys.js';
