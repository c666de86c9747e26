/**
 * Finds this hub's Swarm services without the database: every service (and every ephemeral
 * volume) the spawner creates carries `atrium.hub` and the spawn attempt's `atrium.owner` label.
 */
import type Docker from 'dockerode';
import type { OwnedObject } from '../spawner.js';
import { dockerClient } from './docker-client.js';
import type { SwarmSpawnerOptions } from './options.js';
import { LABEL_HUB, LABEL_OWNER, LABEL_PORT } from './service-spec.js';
import type { SwarmState } from './swarm-spawner.js';

interface Labelled {
  ID?: string;
  Name?: string;
  Labels?: Record<string, string> | null;
  Spec?: { Name?: string; Labels?: Record<string, string> };
}

export async function sweepSwarm(options: SwarmSpawnerOptions, ownerPrefix: string): Promise<OwnedObject[]> {
  const docker: Docker = dockerClient(options.dockerUrl);
  const filters = JSON.stringify({ label: [`${LABEL_HUB}=${options.hubId}`] });
  const services = (await docker.listServices({ filters })) as Labelled[];
  const volumes = ((await docker.listVolumes({ filters: JSON.stringify({ label: [`${LABEL_HUB}=${options.hubId}`, 'atrium.ephemeral=true'] }) })).Volumes ?? []) as Labelled[];
  const out: OwnedObject[] = [];
  for (const s of services) {
    const labels = s.Spec?.Labels ?? {};
    const tag = labels[LABEL_OWNER];
    if (!tag?.startsWith(ownerPrefix) || !s.ID) continue;
    const state: SwarmState = {
      serviceId: s.ID,
      serviceName: s.Spec?.Name,
      port: Number(labels[LABEL_PORT]) || undefined,
      volumes: volumes.filter((v) => v.Labels?.[LABEL_OWNER] === tag && v.Name).map((v) => v.Name!),
    };
    out.push({ tag, state: { ...state }, description: `service ${s.Spec?.Name ?? s.ID}` });
  }
  return out;
}
