/** The SSH-tunnel spawner kind (spawner.kind: ssh): one process group per server on a remote host. */
import type { SpawnerKind } from '../spawner.js';
import type { SshSpawnerOptions } from './options.js';
import { SshSpawner } from './ssh-spawner.js';
import { sweepSsh } from './sweep.js';

export const sshSpawnerKind: SpawnerKind<SshSpawnerOptions> = {
  kind: 'ssh',
  create: ({ options, user, serverName, log }) => new SshSpawner(options, user, serverName, log.child({ spawner: 'ssh', user: user.name, server: serverName })),
  sweep: ({ options, ownerPrefix, log }) => sweepSsh(options, ownerPrefix, log),
};

export { SshSpawner } from './ssh-spawner.js';
export { SshSpawnerOptions } from './options.js';
export { closeSshConnections, sshConnections } from './connection-pool.js';
export { checkHostKey, parseKnownHosts, fingerprint } from './host-keys.js';
