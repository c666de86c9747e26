/**
 * The Swarm nodes that can take a new server, for the hub's per-node start queue
 * (`spawner.startQueue.perNode`, decision 0024): active, ready nodes that satisfy the admin's
 * `placementConstraints`. The queue admits a start onto one of them and the service is pinned
 * there with a `node.id==` constraint, so "N starts per node" holds whatever Swarm's scheduler
 * would have preferred.
 */
import type Docker from 'dockerode';
import { dockerClient } from './docker-client.js';
import type { SwarmSpawnerOptions } from './options.js';

/** The fields of a node (GET /nodes) that admission and constraints look at. */
export interface SwarmNodeInfo {
  ID: string;
  Spec?: { Availability?: string; Role?: string; Labels?: Record<string, string> };
  Status?: { State?: string };
  Description?: { Hostname?: string; Platform?: { OS?: string; Architecture?: string }; Engine?: { Labels?: Record<string, string> } };
}

export async function admissionNodes(options: SwarmSpawnerOptions): Promise<string[]> {
  const docker: Docker = dockerClient(options.dockerUrl);
  const nodes = (await docker.listNodes()) as SwarmNodeInfo[];
  return eligibleNodes(nodes, options.placementConstraints);
}

/** IDs of the nodes Swarm would schedule a server on: active, ready, every constraint met. */
export function eligibleNodes(nodes: readonly SwarmNodeInfo[], constraints: readonly string[]): string[] {
  return nodes
    .filter((n) => (n.Spec?.Availability ?? 'active') === 'active' && n.Status?.State === 'ready')
    .filter((n) => constraints.every((c) => meets(n, c)))
    .map((n) => n.ID)
    .sort();
}

/**
 * One Swarm placement constraint (`attr==value` / `attr!=value`) against a node. An attribute this
 * code does not know counts as met: Swarm itself still enforces the constraint on the service, and
 * a node wrongly counted here only means a start may wait on the engine instead of in the queue.
 */
function meets(node: SwarmNodeInfo, constraint: string): boolean {
  const m = /^\s*([^=!\s]+)\s*(==|!=)\s*(.*?)\s*$/.exec(constraint);
  if (!m) return true;
  const [, attr, op, want] = m as unknown as [string, string, string, string];
  const have = attribute(node, attr);
  if (have === undefined && !attr.includes('labels.')) return true;
  // Swarm compares node attributes case-insensitively, label values exactly.
  const equal = attr.includes('labels.') ? have === want : (have ?? '').toLowerCase() === want.toLowerCase();
  return op === '==' ? equal : !equal;
}

function attribute(node: SwarmNodeInfo, attr: string): string | undefined {
  if (attr.startsWith('node.labels.')) return node.Spec?.Labels?.[attr.slice('node.labels.'.length)];
  if (attr.startsWith('engine.labels.')) return node.Description?.Engine?.Labels?.[attr.slice('engine.labels.'.length)];
  switch (attr) {
    case 'node.id':
      return node.ID;
    case 'node.hostname':
      return node.Description?.Hostname;
    case 'node.role':
      return node.Spec?.Role;
    case 'node.platform.os':
      return node.Description?.Platform?.OS;
    case 'node.platform.arch':
      return node.Description?.Platform?.Architecture;
    default:
      return undefined;
  }
}

/** The constraint that pins a service to the node the start queue admitted it on. */
export function nodeConstraint(nodeId: string): string {
  return `node.id==${nodeId}`;
}
