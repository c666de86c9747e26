/**
 * Registration of the Docker Swarm spawner (`spawner.kind: swarm`); listed in ../kinds.ts.
 * dockerode is imported by load() only, when this kind is configured.
 */
import type { OptionProblem } from '../../shared/kind.js';
import type { SpawnerDescriptor } from '../spawner.js';
import { SwarmSpawnerOptions } from './options.js';

/** The schemes docker-client.ts connects with (a bare socket path is allowed too). */
const DOCKER_SCHEMES = ['unix:', 'http:', 'tcp:', 'https:'];

function checkSwarmOptions(options: unknown): OptionProblem[] {
  const url = options && typeof options === 'object' ? (options as Record<string, unknown>).dockerUrl : undefined;
  if (typeof url !== 'string' || url.startsWith('/')) return [];
  if (!URL.canParse(url) || !DOCKER_SCHEMES.includes(new URL(url).protocol)) {
    return [{ segments: ['dockerUrl'], message: 'must be unix:///path/docker.sock, a socket path, or an http(s):// or tcp:// URL' }];
  }
  return [];
}

export const swarmSpawner = {
  name: 'swarm',
  optionsSchema: SwarmSpawnerOptions,
  serversOnHubHost: false,
  validateOptions: checkSwarmOptions,
  // The spawn form and its limits; connection, hubId, network and ports need a restart.
  reloadableKeys: ['images', 'cpuChoices', 'memoryChoices', 'cpuLimit', 'maxCpuLimit', 'cpuReservation', 'memoryLimit', 'maxMemoryLimit', 'memoryReservation'],
  load: async () => (await import('./index.js')).swarmSpawnerKind,
} as const satisfies SpawnerDescriptor<SwarmSpawnerOptions>;
