/** The Slurm spawner kind (spawner.kind: slurm): one batch job per user server. */
import type { SpawnerKind } from '../spawner.js';
import { slurmOptionsForm } from './form.js';
import { parseSlurmOptions } from './limits.js';
import type { SlurmSpawnerOptions } from './options.js';
import { SlurmSpawner } from './slurm-spawner.js';
import { sweepSlurm } from './sweep.js';
import { slurmResources } from './resources.js';
import { closeSlurmPollers } from './poller.js';
import { slurmBatchJobs } from './batch-jobs.js';

export const slurmSpawnerKind: SpawnerKind<SlurmSpawnerOptions> = {
  kind: 'slurm',
  create: ({ options, user, serverName, log }) => new SlurmSpawner(options, user, serverName, log.child({ spawner: 'slurm', user: user.name, server: serverName })),
  optionsForm: slurmOptionsForm,
  parseOptions: (options, input, user) => ({ ...parseSlurmOptions(options, input, user) }),
  sweep: ({ options, ownerPrefix, log }) => sweepSlurm(options, ownerPrefix, log),
  close: async () => closeSlurmPollers(),
  resources: slurmResources,
  batchJobs: slurmBatchJobs,
};

export { SlurmSpawner } from './slurm-spawner.js';
export { SlurmSpawnerOptions } from './options.js';
export { closeSlurmPollers, pollerFor } from './poller.js';
export { clusterResources, type PartitionResources } from './cluster-info.js';
export { fillTemplate, DEFAULT_BATCH_SCRIPT } from './template.js';
