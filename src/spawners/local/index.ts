/**
 * The local process spawner (`spawner.kind: local`). See docs/spawners/local.md.
 */
import type { SpawnerKind } from '../spawner.js';
import { LocalSpawner } from './local-spawner.js';
import type { LocalSpawnerOptions } from './options.js';
import { sweepLocal } from './sweep.js';

export const localSpawnerKind: SpawnerKind<LocalSpawnerOptions> = {
  kind: 'local',
  create: ({ options, user, serverName, log, logDir, stateDir }) => new LocalSpawner(options, user, serverName, log, logDir, stateDir),
  sweep: async ({ ownerPrefix, log }) => sweepLocal(ownerPrefix, log),
};

export { LocalSpawner, type LocalSpawnerState } from './local-spawner.js';
export { LocalSpawnerOptions } from './options.js';
