/**
 * Preloading onto a node the hub has no engine endpoint for (decision 0021): a one-task Swarm job
 * (mode ReplicatedJob, constrained to that node) whose image is the one to preload and whose
 * command does nothing. The node's engine pulls the image while the task is "preparing"; the task
 * state is the only progress there is (no bytes). Once the node has created a container, the
 * image is there, whatever the no-op command then did (an image without `true` still counts).
 * The service is removed afterwards; it carries the `atrium.preload` label, so a hub that died
 * while one ran removes it at its next start (sweepPreloadJobs).
 */
import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import { setTimeout as sleep } from 'node:timers/promises';
import { engineMessage, ignore404 } from '../../spawners/swarm/docker-client.js';
import type { RegistryAuthConfig } from '../../shared/registry-auth.js';

export const LABEL_PRELOAD = 'atrium.preload';
export const LABEL_PRELOAD_IMAGE = 'atrium.preload.image';

interface Task {
  ID?: string;
  NodeID?: string;
  Status?: { State?: string; Err?: string; Message?: string; ContainerStatus?: { ContainerID?: string } };
  CreatedAt?: string;
}

/** States after the image was pulled and the container was being created or ran. */
const PULLED = new Set(['ready', 'starting', 'running', 'complete']);
const ENDED = new Set(['failed', 'rejected', 'shutdown', 'orphaned', 'remove']);

export function preloadJobName(image: string, nodeId: string): string {
  return `atrium-preload-${createHash('sha256').update(`${image}\0${nodeId}`).digest('hex').slice(0, 12)}`;
}

export interface JobPullArgs {
  manager: Docker;
  image: string;
  nodeId: string;
  /** Whose jobs these are (a restarted hub removes only its own leftovers). */
  owner: string;
  auth: RegistryAuthConfig | undefined;
  timeoutMs: number;
  /** Each task state seen ("preparing", …), for the node's line on the page. */
  onState: (state: string) => void;
  intervalMs?: number;
}

/** Resolves when the node has the image; rejects with the task's error otherwise. */
export async function pullViaJob(a: JobPullArgs): Promise<void> {
  const name = preloadJobName(a.image, a.nodeId);
  // A job of the same name is a leftover of an earlier attempt: start over.
  await ignore404(a.manager.getService(name).remove());
  const labels = { [LABEL_PRELOAD]: a.owner, [LABEL_PRELOAD_IMAGE]: a.image };
  const spec = {
    Name: name,
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: { Image: a.image, Command: ['true'], Labels: labels },
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      Placement: { Constraints: [`node.id==${a.nodeId}`] },
      // Host networking: the task needs no network of its own (and nodes may have no bridge).
      Networks: [{ Target: 'host' }],
    },
    Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
  };
  // Two arguments always: the login travels with the service to the node (X-Registry-Auth).
  const created = (await a.manager.createService((a.auth ?? {}) as Docker.AuthConfig, spec as unknown as Docker.CreateServiceOptions)) as { id?: string; ID?: string };
  const id = created.id ?? created.ID ?? name;
  const deadline = Date.now() + a.timeoutMs;
  let last = '';
  try {
    for (;;) {
      const tasks = (await a.manager.listTasks({ filters: JSON.stringify({ service: [id] }) })) as Task[];
      const t = tasks.sort((x, y) => (y.CreatedAt ?? '').localeCompare(x.CreatedAt ?? ''))[0];
      const state = t?.Status?.State ?? 'new';
      if (state !== last) {
        last = state;
        a.onState(state);
      }
      if (PULLED.has(state)) return;
      if (ENDED.has(state)) {
        // The container was created: the image is on the node; only the no-op command failed.
        if (t?.Status?.ContainerStatus?.ContainerID) return;
        throw new Error(t?.Status?.Err || t?.Status?.Message || `task ${state}`);
      }
      if (Date.now() > deadline) {
        const err = t?.Status?.Err ? `: ${t.Status.Err}` : '';
        throw new Error(`the preload job did not pull within ${Math.round(a.timeoutMs / 1000)} s (task ${state}${err})`);
      }
      await sleep(a.intervalMs ?? 500);
    }
  } finally {
    await ignore404(a.manager.getService(id).remove()).catch(() => undefined);
  }
}

/** Remove preload jobs a previous run of this hub left behind (it died while they ran). */
export async function sweepPreloadJobs(manager: Docker, owner: string): Promise<string[]> {
  const services = (await manager.listServices({ filters: JSON.stringify({ label: [`${LABEL_PRELOAD}=${owner}`] }) })) as { ID?: string; Spec?: { Name?: string } }[];
  const removed: string[] = [];
  for (const s of services) {
    if (!s.ID) continue;
    try {
      await ignore404(manager.getService(s.ID).remove());
      removed.push(s.Spec?.Name ?? s.ID);
    } catch (err) {
      throw new Error(`could not remove preload job ${s.Spec?.Name ?? s.ID}: ${engineMessage(err)}`);
    }
  }
  return removed;
}
