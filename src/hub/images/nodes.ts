/**
 * The Swarm's nodes as the preloader sees them: which can run servers (and so must hold the
 * image), and which Docker Engine API reaches each one. A manager's API cannot pull on a worker,
 * so every node is pulled through its own engine (decision 0014): an admin-given URL per node,
 * or a template filled with the node's hostname / address, or — for the manager itself — the
 * manager URL the hub already has.
 */
import type Docker from 'dockerode';
import { fillEngineTemplate } from '../../spawners/swarm/pull-progress.js';

export interface SwarmNode {
  id: string;
  hostname: string;
  address: string;
  /** Ready and Active: the scheduler may put servers here, so the image must be here. */
  schedulable: boolean;
  /** Why not schedulable ("node is down", "availability drain"), for the page. */
  reason: string | null;
  /** Engine API of this node, or null when none is configured. */
  engineUrl: string | null;
}

export interface EngineEndpoints {
  managerUrl: string;
  /** e.g. "tcp://{address}:2375" or "unix:///run/atrium/{hostname}.sock"; empty: none. */
  template: string;
  /** Per node (hostname, address or id) overrides. */
  perNode: Record<string, string>;
}

interface NodeInfo {
  ID?: string;
  Description?: { Hostname?: string };
  Status?: { State?: string; Addr?: string };
  Spec?: { Availability?: string };
}

export function engineUrlFor(ep: EngineEndpoints, node: { id: string; hostname: string; address: string }, selfId: string): string | null {
  const direct = ep.perNode[node.hostname] ?? ep.perNode[node.address] ?? ep.perNode[node.id];
  if (direct) return direct;
  if (ep.template) return fillEngineTemplate(ep.template, node);
  return node.id === selfId ? ep.managerUrl : null;
}

/** Every node of the swarm the manager at `manager` belongs to. */
export async function listNodes(manager: Docker, ep: EngineEndpoints): Promise<SwarmNode[]> {
  const info = (await manager.info()) as { Swarm?: { NodeID?: string } };
  const selfId = info.Swarm?.NodeID ?? '';
  const nodes = (await manager.listNodes()) as NodeInfo[];
  return nodes
    .map((n) => {
      const id = n.ID ?? '';
      const hostname = n.Description?.Hostname ?? id;
      const address = n.Status?.Addr ?? '';
      const state = n.Status?.State ?? 'unknown';
      const availability = n.Spec?.Availability ?? 'active';
      const reason = state !== 'ready' ? `node is ${state}` : availability !== 'active' ? `availability ${availability}` : null;
      return { id, hostname, address, schedulable: reason === null, reason, engineUrl: engineUrlFor(ep, { id, hostname, address }, selfId) };
    })
    .sort((a, b) => a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id));
}
