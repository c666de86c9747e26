/** Registration of the local process spawner (`spawner.kind: local`); listed in ../kinds.ts. */
import type { SpawnerDescriptor } from '../spawner.js';
import { LocalSpawnerOptions } from './options.js';

export const localSpawner = {
  name: 'local',
  optionsSchema: LocalSpawnerOptions,
  serversOnHubHost: true,
  renamedKeys: [
    { from: 'cmd', to: 'local.cmd' },
    { from: 'args', to: 'local.args' },
  ],
  load: async () => (await import('./index.js')).localSpawnerKind,
} as const satisfies SpawnerDescriptor<LocalSpawnerOptions>;
