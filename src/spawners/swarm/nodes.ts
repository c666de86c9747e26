/**
 * The Swarm nodes that can take a new server, for the hub's per-node start queue
 * (`spawner.startQueue.perNode`, decisions 0024 and 0027): active, ready nodes that meet the
 * admin's `placementConstraints` and advertise the `genericResources` every server reserves; per
 * start, the subset its environment's own constraints allow; and this hub's services still starting
 * on a node that the hub does not account for (what a restarted hub inherits). The queue admits a
 * start onto one node and the service is pinned there with a `node.id==` constraint, so "N starts
 * per node" holds whatever Swarm's scheduler would have preferred.
 */
import type Docker from 'dockerode';
import type { AdmissionPlacement, AdmissionView } from '../spawner.js';
import { dockerClient } from './docker-client.js';
import type { SwarmSpawnerOptions } from './options.js';
import { environmentConstraints, hasGenericResource, nodesMeeting, type SwarmNodeInfo } from './constraints.js';
import { LABEL_HUB, LABEL_OWNER } from './service-spec.js';
import { FINAL_STATES } from './task-watch.js';

export { nodeConstraint, type SwarmNodeInfo } from './constraints.js';

export async function admissionNodes(options: SwarmSpawnerOptions, args?: { ownerPrefix: string; settled: (tag: string) => boolean }): Promise<AdmissionView> {
  const docker: Docker = dockerClient(options.dockerUrl);
  const nodes = (await docker.listNodes()) as SwarmNodeInfo[];
  const view = admissionView(nodes, options);
  if (args) view.starting = await startingServers(docker, options.hubId, args.ownerPrefix, args.settled);
  return view;
}

/**
 * The view from a node list (pure, for tests without an engine): nodes Swarm would schedule a
 * server on, and per start the ones its environment's constraints allow. An admin constraint that
 * cannot be evaluated makes every start "unknown" (the listed nodes are then the active, ready ones
 * that meet the rest, which only sizes the whole-cluster limit).
 */
export function admissionView(nodes: readonly SwarmNodeInfo[], options: Pick<SwarmSpawnerOptions, 'placementConstraints' | 'genericResources'>): AdmissionView {
  const live = nodes
    .filter((n) => (n.Spec?.Availability ?? 'active') === 'active' && n.Status?.State === 'ready')
    .filter((n) => Object.entries(options.genericResources).every(([kind, count]) => hasGenericResource(n, kind, count)));
  const admin = nodesMeeting(live, options.placementConstraints);
  if ('unknown' in admin) {
    const known = options.placementConstraints.filter((e) => !('unknown' in nodesMeeting([], [e])));
    const sized = nodesMeeting(live, known) as { nodes: SwarmNodeInfo[] };
    return { nodes: ids(sized.nodes), placement: () => ({ unknown: admin.unknown }) };
  }
  const base = admin.nodes;
  return {
    nodes: ids(base),
    placement: (userOptions): AdmissionPlacement => {
      const extra = environmentConstraints(userOptions);
      if (extra.length === 0) return { nodes: ids(base) };
      const r = nodesMeeting(base, extra);
      return 'unknown' in r ? r : { nodes: ids(r.nodes) };
    },
  };
}

const ids = (nodes: readonly SwarmNodeInfo[]) => nodes.map((n) => n.ID).sort();

interface ServiceInfo {
  ID?: string;
  Spec?: { Labels?: Record<string, string> };
}
interface TaskInfo {
  ServiceID?: string;
  NodeID?: string;
  Status?: { State?: string };
}

/**
 * This hub's services the hub does not account for whose task is placed on a node and not over
 * (pending on the node, pulling, starting, or running but not yet known to answer). Services the
 * hub knows (`settled`) are not asked about, so a hub with 1,000 running servers lists few tasks.
 */
async function startingServers(docker: Docker, hubId: string, ownerPrefix: string, settled: (tag: string) => boolean): Promise<{ node: string; tag: string }[]> {
  const services = (await docker.listServices({ filters: JSON.stringify({ label: [`${LABEL_HUB}=${hubId}`] }) })) as ServiceInfo[];
  const tagOf = new Map<string, string>();
  for (const s of services) {
    const tag = s.Spec?.Labels?.[LABEL_OWNER];
    if (s.ID && tag?.startsWith(ownerPrefix) && !settled(tag)) tagOf.set(s.ID, tag);
  }
  if (tagOf.size === 0) return [];
  const tasks = (await docker.listTasks({ filters: JSON.stringify({ service: [...tagOf.keys()], 'desired-state': ['running'] }) })) as TaskInfo[];
  const out: { node: string; tag: string }[] = [];
  for (const t of tasks) {
    const tag = t.ServiceID ? tagOf.get(t.ServiceID) : undefined;
    if (tag && t.NodeID && !FINAL_STATES.has(t.Status?.State ?? '')) out.push({ node: t.NodeID, tag });
  }
  return out;
}
