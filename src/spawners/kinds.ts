/**
 * The one list of spawner kinds. Adding a kind: a folder with a descriptor, one line here; the
 * config schema, docs/config.md, `atrium config check` and the hub's registry follow.
 */
import { localSpawner } from './local/descriptor.js';
import { swarmSpawner } from './swarm/descriptor.js';
import { slurmSpawner } from './slurm/descriptor.js';
import { sshSpawner } from './ssh/descriptor.js';

export const spawnerKinds = {
  /** The kind of an empty config. */
  default: 'local',
  kinds: [localSpawner, swarmSpawner, slurmSpawner, sshSpawner],
} as const;
