/** The Docker Swarm spawner kind (spawner.kind: swarm). */
import type { SpawnerKind } from '../spawner.js';
import { parseSwarmOptions, swarmOptionsForm } from './form.js';
import type { SwarmSpawnerOptions } from './options.js';
import { SwarmSpawner } from './swarm-spawner.js';
import { sweepSwarm } from './sweep.js';
import { admissionNodes } from './nodes.js';

export const swarmSpawnerKind: SpawnerKind<SwarmSpawnerOptions> = {
  kind: 'swarm',
  create: ({ options, user, serverName, log }) => new SwarmSpawner(options, user, serverName, log.child({ spawner: 'swarm', user: user.name, server: serverName })),
  optionsForm: swarmOptionsForm,
  parseOptions: parseSwarmOptions,
  sweep: ({ options, ownerPrefix }) => sweepSwarm(options, ownerPrefix),
  admissionNodes,
};

export { SwarmSpawner } from './swarm-spawner.js';
export { SwarmSpawnerOptions } from './options.js';
export { parseSizeBytes, formatSize } from './sizes.js';
export { serviceNameFor, LABEL_HUB, LABEL_USER, LABEL_SERVER } from './service-spec.js';
