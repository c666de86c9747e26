/**
 * Registration of the Slurm spawner (`spawner.kind: slurm`); listed in ../kinds.ts.
 * The implementation is imported by load() only, when this kind is configured.
 */
import type { SpawnerDescriptor } from '../spawner.js';
import { SlurmSpawnerOptions } from './options.js';

export const slurmSpawner = {
  name: 'slurm',
  optionsSchema: SlurmSpawnerOptions,
  // Jobs run on compute nodes; with a one-node test cluster that is this host, but the hub cannot
  // know, so the same-host identity check does not assume it.
  serversOnHubHost: false,
  // Portal batch jobs (SpawnerKind.batchJobs) go to the same cluster.
  batchJobs: true,
  // The resource form and its limits, read at each form render and parseOptions.
  reloadableKeys: ['partitions', 'limits', 'accounts', 'reservations', 'environments', 'interfaces'],
  load: async () => (await import('./index.js')).slurmSpawnerKind,
} as const satisfies SpawnerDescriptor<SlurmSpawnerOptions>;
