/**
 * The web shell into a Swarm server: `docker exec` with a TTY into the service's running task
 * container, as the container's own user, in its working directory. The engine asked is the
 * configured `dockerUrl`; for a task on another node of a multi-node swarm, that node's own engine
 * (Swarm does not relay exec): the per-node endpoint template `pullProgressEngineUrl` when set,
 * otherwise the shell is refused with a message that says what is missing.
 */
import { readFileSync } from 'node:fs';
import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import { isAtriumError } from '../../shared/errors.js';
import { SpawnError, type ShellOptions, type ShellSession } from '../spawner.js';
import { dockerClient, engineMessage } from './docker-client.js';
import { latestTask } from './task-watch.js';

/**
 * Runs inside the container: drop the server's credentials and the crash sweep's tag from the
 * environment, then a login shell (bash if the image has it).
 */
const SCRIPT = 'unset JUPYTERHUB_API_TOKEN JPY_API_TOKEN ATRIUM_SERVER_ID; if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi';

/** The engine URL of a node (template filled in), or null when none is configured. */
export type NodeEngineFor = (node: { id: string; hostname: string; address: string }) => string | null;

export async function openSwarmShell(docker: Docker, serviceId: string, engineIsLocal: boolean, opts: ShellOptions, nodeEngine: NodeEngineFor = () => null): Promise<ShellSession> {
  try {
    const task = await latestTask(docker, serviceId);
    const containerId = task?.Status?.ContainerStatus?.ContainerID;
    if (!task || task.Status?.State !== 'running' || !containerId) {
      throw new SpawnError('The server is not running', `service ${serviceId}: task ${task?.ID ?? 'missing'} is ${task?.Status?.State ?? 'missing'}`);
    }
    const info = (await docker.info()) as { Swarm?: { NodeID?: string } };
    let engine = docker;
    let local = engineIsLocal;
    if (task.NodeID && info.Swarm?.NodeID && task.NodeID !== info.Swarm.NodeID) {
      const node = (await docker.getNode(task.NodeID).inspect()) as { ID: string; Description?: { Hostname?: string }; Status?: { Addr?: string } };
      const hostname = node.Description?.Hostname ?? node.ID;
      const url = nodeEngine({ id: node.ID, hostname, address: node.Status?.Addr ?? '' });
      if (!url) {
        throw new SpawnError(
          `The shell cannot reach node ${hostname}, where this server runs: the hub has no engine endpoint for it`,
          `task ${task.ID} runs on node ${task.NodeID}, the hub's engine is node ${info.Swarm.NodeID}; set spawner.swarm.pullProgressEngineUrl`,
        );
      }
      engine = dockerClient(url);
      // The hang-up signal needs the exec's PID in this host's namespace: only for a local socket.
      local = url.startsWith('/') || url.startsWith('unix:');
    }
    const exec = await engine.getContainer(containerId).exec({
      Cmd: ['/bin/sh', '-c', SCRIPT],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
      Env: ['TERM=xterm-256color'],
      ConsoleSize: [opts.rows, opts.cols],
    });
    if (opts.signal.aborted) throw new SpawnError('The shell was cancelled');
    const stream = await exec.start({ hijack: true, stdin: true, Tty: true });
    return execSession(exec, stream, containerId, local, opts);
  } catch (err) {
    if (isAtriumError(err)) throw err;
    throw new SpawnError('The shell could not be started', `docker exec into service ${serviceId}: ${engineMessage(err)}`);
  }
}

function execSession(exec: Docker.Exec, stream: Duplex, containerId: string, engineIsLocal: boolean, opts: ShellOptions): ShellSession {
  let ended = false;
  const exitFns: ((e: { code: number | null; signal: string | null }) => void)[] = [];
  const finish = () => {
    if (ended) return;
    ended = true;
    void exec.inspect().then(
      (i) => i.ExitCode,
      () => null,
    ).then((code) => {
      for (const fn of exitFns) fn({ code: code ?? null, signal: null });
    });
  };
  stream.on('end', finish);
  stream.on('close', finish);
  stream.on('error', finish);
  // The size given at create is applied only by engines that know ConsoleSize (API 1.42+).
  void exec.resize({ h: opts.rows, w: opts.cols }).catch(() => undefined);
  return {
    description: `container ${containerId.slice(0, 12)}`,
    write: (data) => {
      if (!ended) stream.write(data);
    },
    resize: (cols, rows) => {
      if (!ended) void exec.resize({ h: rows, w: cols }).catch(() => undefined);
    },
    onData: (fn) => {
      stream.on('data', (chunk: Buffer) => fn(chunk));
    },
    onExit: (fn) => {
      exitFns.push(fn);
    },
    close: () => {
      if (ended) return;
      stream.destroy();
      void hangUp(exec, containerId, engineIsLocal);
    },
  };
}

/**
 * Dropping the attach connection does not end an exec'd process: the engine keeps it running with
 * nobody attached. On an engine on this host the exec's process (its own session on the TTY) gets
 * the SIGHUP a closed terminal sends; its PID from `exec inspect` is a host PID.
 */
async function hangUp(exec: Docker.Exec, containerId: string, engineIsLocal: boolean): Promise<void> {
  const info = await exec.inspect().catch(() => null);
  if (!info?.Running || !engineIsLocal) return;
  const pid = (info as { Pid?: number }).Pid;
  if (typeof pid !== 'number' || pid <= 1) return;
  // A hub that runs in a container of its own sees another PID namespace: the number is only
  // signalled when this host's /proc says it belongs to the server's container.
  let cgroup = '';
  try {
    cgroup = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return;
  }
  if (!cgroup.includes(containerId)) return;
  try {
    process.kill(-pid, 'SIGHUP');
  } catch {
    try {
      process.kill(pid, 'SIGHUP');
    } catch {
      /* already gone */
    }
  }
}
