/**
 * Follows the single task of a server's service from pending to running. Polling the task list is
 * simpler and more robust than the event stream (events are node-local and can be missed across a
 * reconnect), and a spawn only lasts seconds.
 */
import type Docker from 'dockerode';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpawnError, type ProgressEvent } from '../spawner.js';

export interface TaskInfo {
  ID: string;
  NodeID?: string;
  CreatedAt?: string;
  Version?: { Index?: number };
  Status?: { State?: string; Message?: string; Err?: string; ContainerStatus?: { ContainerID?: string; ExitCode?: number } };
  DesiredState?: string;
}

const STEPS: Record<string, ProgressEvent> = {
  new: { progress: 10, message: 'Service created' },
  pending: { progress: 20, message: 'Waiting for a node with room for the server' },
  assigned: { progress: 30, message: 'Assigned to a node' },
  accepted: { progress: 35, message: 'Accepted by the node' },
  preparing: { progress: 40, message: 'Preparing: pulling the image and creating volumes' },
  ready: { progress: 60, message: 'Container created' },
  starting: { progress: 70, message: 'Starting the container' },
  running: { progress: 90, message: 'Container running, waiting for the server to answer' },
};

/** Task states after which it will never run (restart policy is "none"). */
export const FINAL_STATES = new Set(['complete', 'shutdown', 'failed', 'rejected', 'orphaned', 'remove']);

/** The newest task of a service (with restart policy none there is normally exactly one). */
export async function latestTask(docker: Docker, serviceId: string): Promise<TaskInfo | undefined> {
  const tasks = (await docker.listTasks({ filters: JSON.stringify({ service: [serviceId] }) })) as TaskInfo[];
  tasks.sort((a, b) => (b.Version?.Index ?? 0) - (a.Version?.Index ?? 0));
  return tasks[0];
}

/**
 * A short message for the user from a task error. Mount errors arrive wrapped several times
 * ("starting container failed: error while mounting volume '…': VolumeDriver.Mount: sshfs: …");
 * the driver's own words are what helps the user.
 */
export function taskErrorMessage(err: string): string {
  const driver = /VolumeDriver\.\w+: (.*)$/s.exec(err);
  if (driver) return driver[1]!.trim();
  return err.trim();
}

export interface WatchResult {
  task: TaskInfo;
}

export async function watchTask(args: {
  docker: Docker;
  serviceId: string;
  signal: AbortSignal;
  onProgress: (ev: ProgressEvent) => void;
  /** Called once when the task starts preparing (the node pulls the image then). */
  onPreparing?: (task: TaskInfo) => void;
  unschedulableGraceMs: number;
  intervalMs?: number;
}): Promise<WatchResult> {
  const { docker, serviceId, signal } = args;
  let lastState = '';
  let unschedulableSince: number | undefined;
  for (;;) {
    if (signal.aborted) throw new SpawnError('The spawn was cancelled', String(signal.reason ?? 'aborted'));
    const task = await latestTask(docker, serviceId);
    const state = task?.Status?.State ?? 'new';
    if (state !== lastState) {
      lastState = state;
      const step = STEPS[state];
      if (step) args.onProgress(step);
      if (state === 'preparing' && task) args.onPreparing?.(task);
    }
    if (task && state === 'running') return { task };
    if (task && FINAL_STATES.has(state)) {
      const err = task.Status?.Err || task.Status?.Message || state;
      const exit = task.Status?.ContainerStatus?.ExitCode;
      const message = state === 'complete' ? `The server exited right after starting (exit code ${exit ?? 0})` : taskErrorMessage(err);
      throw new SpawnError(message, `task ${task.ID} ${state}: ${err}`);
    }
    // A pending task with an error is one the scheduler cannot place ("no suitable node (…)").
    const pendingErr = state === 'pending' ? task?.Status?.Err : undefined;
    if (pendingErr) {
      unschedulableSince ??= Date.now();
      if (Date.now() - unschedulableSince >= args.unschedulableGraceMs) {
        throw new SpawnError(taskErrorMessage(pendingErr), `task ${task!.ID} pending: ${pendingErr}`);
      }
    } else {
      unschedulableSince = undefined;
    }
    await sleep(args.intervalMs ?? 250, undefined, { signal }).catch(() => undefined);
  }
}

/** Address of the node a task runs on, as other machines reach it. */
export async function nodeAddress(docker: Docker, nodeId: string): Promise<string> {
  const node = (await docker.getNode(nodeId).inspect()) as {
    Status?: { Addr?: string };
    ManagerStatus?: { Addr?: string };
  };
  const addr = node.Status?.Addr;
  // Managers sometimes report 0.0.0.0 here; their manager address ("ip:2377") is the real one.
  if (addr && addr !== '0.0.0.0') return addr;
  const mgr = node.ManagerStatus?.Addr;
  if (mgr) return mgr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  throw new SpawnError('Could not find the address of the node the server runs on', `node ${nodeId} has no address`);
}

/**
 * Wait until the server accepts TCP connections, re-reading the task now and then: a server that
 * crashes right after "running" (bad command, missing module) then fails the spawn with its exit
 * code instead of leaving the hub to time out on HTTP.
 */
export async function waitForListening(args: {
  docker: Docker;
  serviceId: string;
  host: string;
  port: number;
  signal: AbortSignal;
}): Promise<void> {
  let lastTaskCheck = Date.now();
  for (;;) {
    if (args.signal.aborted) throw new SpawnError('The spawn was cancelled', String(args.signal.reason ?? 'aborted'));
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: args.host, port: args.port, timeout: 1000 });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
      s.once('timeout', () => { s.destroy(); resolve(false); });
    });
    if (ok) return;
    if (Date.now() - lastTaskCheck > 1000) {
      lastTaskCheck = Date.now();
      const task = await latestTask(args.docker, args.serviceId);
      const state = task?.Status?.State ?? 'missing';
      if (!task || FINAL_STATES.has(state)) {
        const exit = task?.Status?.ContainerStatus?.ExitCode;
        throw new SpawnError(
          `The server exited before it listened (exit code ${exit ?? 'unknown'})`,
          `task ${task?.ID ?? '?'} ${state}: ${task?.Status?.Err ?? ''}`,
        );
      }
    }
    await sleep(150, undefined, { signal: args.signal }).catch(() => undefined);
  }
}
