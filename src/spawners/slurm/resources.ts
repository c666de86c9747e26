/**
 * The spawn page's free-resources table (SpawnerKind.resources): per partition the user may
 * choose, idle and mixed nodes, free cores, memory and GPUs, and the longest walltime — the
 * smaller of Slurm's MaxTime and the admin limit that applies to this user. The numbers come from
 * `clusterResources()`, cached for `resourcesCacheSeconds`, so page refreshes by many users
 * cost the controller one pair of scontrol calls per cache period.
 */
import type { ResourceTable, SpawnUser } from '../spawner.js';
import { clusterResources } from './cluster-info.js';
import { formatWalltime, limitsFor, parseWalltimeMinutes, partitionsFor } from './limits.js';
import type { SlurmSpawnerOptions } from './options.js';

const COLUMNS: ResourceTable['columns'] = [
  { key: 'partition', label: 'Partition' },
  { key: 'nodesIdle', label: 'Idle nodes' },
  { key: 'nodesMixed', label: 'Partly used nodes' },
  { key: 'freeCores', label: 'Free cores' },
  { key: 'freeMemory', label: 'Free memory' },
  { key: 'freeGpus', label: 'Free GPUs' },
  { key: 'maxWalltime', label: 'Max walltime' },
];

function memoryText(mb: number): string {
  return mb >= 10 * 1024 ? `${Math.floor(mb / 1024)}G` : `${mb}M`;
}

/** The walltime a user can actually get: Slurm's MaxTime capped by the admin limit. */
export function effectiveMaxWalltime(slurmMax: string, adminMaxMinutes: number | null): string {
  const slurmMinutes = /^unlimited$/i.test(slurmMax) ? null : parseWalltimeMinutes(slurmMax);
  if (adminMaxMinutes === null) return slurmMinutes === null ? (/^unlimited$/i.test(slurmMax) ? 'unlimited' : slurmMax) : formatWalltime(slurmMinutes);
  return formatWalltime(slurmMinutes === null ? adminMaxMinutes : Math.min(slurmMinutes, adminMaxMinutes));
}

export async function slurmResources(options: SlurmSpawnerOptions, user: SpawnUser): Promise<ResourceTable> {
  const all = await clusterResources(options);
  // With a partition list in the config only those offered to this user; without one, Slurm's.
  const offered = options.partitions.length > 0 ? partitionsFor(options, user).map((p) => p.name) : all.map((r) => r.partition);
  const rows = offered.flatMap((name) => {
    const r = all.find((x) => x.partition === name);
    if (!r) return [];
    const lim = limitsFor(options, options.partitions.length > 0 ? name : null, user);
    return [{
      partition: name,
      nodesIdle: r.nodesIdle,
      nodesMixed: r.nodesMixed,
      freeCores: r.freeCores,
      freeMemory: memoryText(r.freeMemoryMb),
      freeGpus: r.freeGpus,
      maxWalltime: effectiveMaxWalltime(r.maxWalltime, lim.maxWalltimeMinutes),
    }];
  });
  return { columns: COLUMNS, rows, at: new Date().toISOString() };
}
