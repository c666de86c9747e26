/**
 * SwarmSpawner: one replicated (1 replica, restart none) Swarm service per user server.
 * The hub-facing contract is src/spawners/spawner.ts; this file only talks to the Docker API.
 */
import { isAtriumError } from '../../shared/errors.js';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { SpawnError, type PollResult, type ProgressEvent, type ResumeContext, type ShellOptions, type ShellSession, type SpawnContext, type Spawner, type SpawnerState, type SpawnUser, type StopOptions } from '../spawner.js';
import { dockerClient, engineMessage, ignore404, statusOf } from './docker-client.js';
import { parseSwarmOptions, type SwarmUserOptions } from './form.js';
import { planMounts } from './mounts.js';
import type { SwarmMount, SwarmSpawnerOptions } from './options.js';
import { ProgressLog } from '../progress-log.js';
import { openSwarmShell } from './shell.js';
import { createServiceWithLogin, explainPullFailure } from './registry-login.js';
import { fillEngineTemplate, pullWithProgress } from './pull-progress.js';
import { buildServiceSpec, describeLimits, hubLabels, LABEL_HUB, LABEL_PORT, serviceNameFor } from './service-spec.js';
import { FINAL_STATES, latestTask, nodeAddress, waitForListening, watchTask } from './task-watch.js';

/** Host ports handed out by starts still in flight in this process (not yet visible as labels). */
const reservedPorts = new Set<number>();

export interface SwarmState {
  serviceId?: string;
  serviceName?: string;
  url?: string;
  port?: number;
  volumes?: string[];
}

export class SwarmSpawner implements Spawner {
  private readonly docker: Docker;
  private st: SwarmState = {};
  private starting = false;
  private channel = new ProgressLog();

  constructor(
    private readonly options: SwarmSpawnerOptions,
    private readonly user: SpawnUser,
    private readonly serverName: string,
    private readonly log: Logger,
  ) {
    this.docker = dockerClient(options.dockerUrl);
  }

  async start(ctx: SpawnContext): Promise<{ url: string }> {
    this.starting = true;
    this.channel = new ProgressLog();
    const serviceName = serviceNameFor(this.options.hubId, this.user.name, this.serverName);
    let port: number | undefined;
    let image: string | undefined;
    try {
      const userOptions = this.userOptions(ctx.userOptions);
      image = userOptions.image;
      await this.removeLeftover(serviceName);
      port = this.options.network === 'host' ? await this.pickHostPort() : this.options.port;
      const labels = hubLabels(this.options.hubId, this.user.name, this.serverName, ctx.ownerTag);
      const plan = planMounts({
        // An environment's mounts (hub-validated, stored by parseOptions) come after the admin's.
        mounts: [...this.options.mounts, ...environmentMounts(ctx.userOptions)],
        serviceName,
        username: this.user.name,
        serverName: this.serverName,
        authState: ctx.authState,
        labels,
      });
      this.st = { serviceName, port, volumes: plan.ephemeralVolumes };
      const spec = buildServiceSpec({ options: this.options, ctx, userOptions, serviceName, port, mounts: plan.mounts });
      this.log.info({ service: serviceName, image: userOptions.image, limits: describeLimits(spec) }, 'creating swarm service');
      if (ctx.signal.aborted) throw new SpawnError('The spawn was cancelled', String(ctx.signal.reason ?? 'aborted'));
      // The name is a handle too: a hub killed while the create call is in flight finds the
      // service by it (and by its owner label in the sweep).
      ctx.recordHandle(this.state());
      const created = await createServiceWithLogin(this.docker, spec, userOptions.image, ctx.registryLogins);
      this.st.serviceId = created.id ?? created.ID;
      ctx.recordHandle(this.state());
      return { url: await this.follow(ctx.signal, (t) => void this.showPull(t, userOptions.image, ctx.signal)) };
    } catch (caught) {
      // A node without the image: a refused registry login is named as such (registry-login.ts).
      const err = image ? await explainPullFailure(this.docker, caught, image, ctx.registryLogins).catch(() => caught) : caught;
      const e = isAtriumError(err) ? err : new SpawnError(`Docker refused the server: ${engineMessage(err)}`, String(err));
      if (!isAtriumError(err) && statusOf(err) === undefined) this.log.error({ err }, 'swarm spawn failed unexpectedly');
      else this.log.warn({ service: serviceName, reason: e.detail ?? e.message }, 'swarm spawn failed');
      await this.cleanup().catch((cleanupErr) => this.log.error({ err: cleanupErr }, 'cleanup after failed spawn failed'));
      throw e;
    } finally {
      if (port !== undefined) reservedPorts.delete(port);
      this.starting = false;
      this.channel.end();
    }
  }

  /**
   * A start interrupted by a hub restart (spawner.ts, `resume`): the service exists and its task is
   * on its way, so follow it to "listening" instead of removing it. Everything the server needs
   * (its token in the service's environment, its port) was fixed when the service was created.
   */
  async resume(ctx: ResumeContext): Promise<{ url: string }> {
    this.starting = true;
    this.channel = new ProgressLog();
    try {
      if (!this.st.serviceId && this.st.serviceName) {
        const found = (await ignore404(this.docker.getService(this.st.serviceName).inspect())) as { ID?: string; Spec?: { Labels?: Record<string, string> } } | undefined;
        if (found?.Spec?.Labels?.[LABEL_HUB] === this.options.hubId) this.st.serviceId = found.ID;
      }
      if (!this.st.serviceId || this.st.port === undefined) throw new SpawnError('The server\'s service is gone', 'no service or port recorded');
      ctx.recordHandle(this.state());
      return { url: await this.follow(ctx.signal) };
    } catch (err) {
      throw isAtriumError(err) ? err : new SpawnError(`Docker refused the server: ${engineMessage(err)}`, String(err));
    } finally {
      this.starting = false;
      this.channel.end();
    }
  }

  /** From a created service to a server accepting connections: its URL. */
  private async follow(signal: AbortSignal, onPreparing?: (t: { NodeID?: string }) => void): Promise<string> {
    const serviceName = this.st.serviceName!;
    const port = this.st.port!;
    const { task } = await watchTask({
      docker: this.docker,
      serviceId: this.st.serviceId!,
      signal,
      onProgress: (ev: ProgressEvent) => this.channel.push(ev),
      ...(onPreparing ? { onPreparing } : {}),
      unschedulableGraceMs: this.options.unschedulableGraceSeconds * 1000,
    });
    const host = this.options.serverHost ?? (this.options.network === 'host' ? await nodeAddress(this.docker, task.NodeID!) : serviceName);
    await waitForListening({ docker: this.docker, serviceId: this.st.serviceId!, host, port, signal });
    this.channel.push({ progress: 95, message: 'Server is listening' });
    const h = host.includes(':') ? `[${host}]` : host;
    this.st.url = `http://${h}:${port}`;
    this.log.info({ service: serviceName, url: this.st.url, node: task.NodeID }, 'swarm service running');
    return this.st.url;
  }

  async stop(opts: StopOptions = {}): Promise<void> {
    await this.cleanup(opts.immediate === true);
  }

  async poll(): Promise<PollResult> {
    if (this.starting) return null;
    const ref = this.st.serviceId ?? this.st.serviceName;
    if (!ref) return { exitStatus: null, reason: 'not started' };
    const service = (await ignore404(this.docker.getService(ref).inspect())) as { ID?: string } | undefined;
    if (!service) return { exitStatus: null, reason: 'the service was removed' };
    // A handle recorded before the create call has only the name.
    this.st.serviceId ??= service.ID;
    const task = await latestTask(this.docker, this.st.serviceId!);
    const state = task?.Status?.State ?? 'missing';
    if (!task || FINAL_STATES.has(state)) {
      return { exitStatus: task?.Status?.ContainerStatus?.ExitCode ?? null, reason: task?.Status?.Err || `task ${state}` };
    }
    // Pending/preparing/starting count as running: the hub's own timeouts decide about slow starts.
    return null;
  }

  state(): SpawnerState {
    return { ...this.st };
  }

  restore(state: SpawnerState): void {
    const s = state as SwarmState;
    this.st = {
      serviceId: typeof s.serviceId === 'string' ? s.serviceId : undefined,
      serviceName: typeof s.serviceName === 'string' ? s.serviceName : undefined,
      url: typeof s.url === 'string' ? s.url : undefined,
      port: typeof s.port === 'number' ? s.port : undefined,
      volumes: Array.isArray(s.volumes) ? s.volumes.filter((v): v is string => typeof v === 'string') : [],
    };
  }

  progress(): AsyncIterable<ProgressEvent> {
    return this.channel.read();
  }

  async shell(opts: ShellOptions): Promise<ShellSession> {
    if (!this.st.serviceId) throw new SpawnError('The server is not running', 'no service recorded');
    const url = this.options.dockerUrl;
    const template = this.options.pullProgressEngineUrl;
    return openSwarmShell(this.docker, this.st.serviceId, url.startsWith('/') || url.startsWith('unix:'), opts, (node) => (template ? fillEngineTemplate(template, node) : null));
  }

  /**
   * Pull progress on the spawn page (issue 13): when the node the task landed on lacks the image,
   * follow the pull there (joining the engine's own) and report bytes. Best effort: any failure
   * only means the page keeps the generic "pulling the image" line; the task itself reports a
   * pull that really failed.
   */
  private async showPull(task: { NodeID?: string }, image: string, signal: AbortSignal): Promise<void> {
    if (!this.options.pullProgressEngineUrl || !task.NodeID) return;
    try {
      const node = (await this.docker.getNode(task.NodeID).inspect()) as { ID: string; Description?: { Hostname?: string }; Status?: { Addr?: string } };
      const hostname = node.Description?.Hostname ?? node.ID;
      const engine = dockerClient(fillEngineTemplate(this.options.pullProgressEngineUrl, { id: node.ID, hostname, address: node.Status?.Addr ?? '' }));
      if (await engine.getImage(image).inspect().then(() => true, () => false)) return;
      const pulling = new AbortController();
      const stop = () => pulling.abort();
      signal.addEventListener('abort', stop, { once: true });
      let last = 0;
      const mb = (n: number) => (n / 1048576).toFixed(1);
      try {
        await pullWithProgress(engine, image, {
          timeoutMs: 3600_000,
          signal: pulling.signal,
          onBytes: (b) => {
            if (b.total === 0 || Date.now() - last < 500) return;
            last = Date.now();
            this.channel.push({ progress: 40 + Math.floor((19 * b.done) / b.total), message: `Pulling ${image} onto ${hostname}: ${mb(b.done)} of ${mb(b.total)} MB` });
          },
        });
        this.channel.push({ progress: 59, message: `Image ${image} is on ${hostname}` });
      } finally {
        signal.removeEventListener('abort', stop);
      }
    } catch (err) {
      this.log.debug({ err: engineMessage(err) }, 'pull progress unavailable');
    }
  }

  /** Stored options are re-checked: the admin may have removed an image since they were saved. */
  private userOptions(raw: Record<string, unknown>): SwarmUserOptions {
    const input: Record<string, unknown> = {};
    if (raw.image !== undefined) input.image = raw.image;
    if (raw.cpuLimit !== undefined) input.cpu = raw.cpuLimit;
    else if (raw.cpu !== undefined) input.cpu = raw.cpu;
    if (raw.memoryLimitBytes !== undefined) input.memory = raw.memoryLimitBytes;
    else if (raw.memory !== undefined) input.memory = raw.memory;
    // An environment's image is not on the admin list: the hub checked it against the catalogue.
    const options = typeof raw.environment === 'string' && typeof raw.image === 'string' ? { ...this.options, images: [{ image: raw.image }] } : this.options;
    // Clamp, not refuse: the limits may have been lowered since these options were accepted.
    return parseSwarmOptions(options, input, this.user, 'clamp') as unknown as SwarmUserOptions;
  }

  /** A service of this server left by a crashed hub would make createService fail with a name clash. */
  private async removeLeftover(name: string): Promise<void> {
    const existing = await ignore404(this.docker.getService(name).inspect());
    if (!existing) return;
    const labels = (existing as { Spec?: { Labels?: Record<string, string> } }).Spec?.Labels ?? {};
    if (labels[LABEL_HUB] !== this.options.hubId) {
      throw new SpawnError('A service with this server\'s name belongs to something else', `service ${name} lacks label ${LABEL_HUB}=${this.options.hubId}`);
    }
    this.log.warn({ service: name }, 'removing a leftover service of this server before starting');
    await ignore404(this.docker.getService(name).remove());
  }

  private async pickHostPort(): Promise<number> {
    const [lo, hi] = this.options.hostPortRange;
    const services = (await this.docker.listServices({ filters: JSON.stringify({ label: [`${LABEL_HUB}=${this.options.hubId}`] }) })) as Array<{
      Spec?: { Labels?: Record<string, string> };
    }>;
    const used = new Set<number>(reservedPorts);
    for (const s of services) used.add(Number(s.Spec?.Labels?.[LABEL_PORT]));
    const span = hi - lo + 1;
    // Random probing spreads servers over the range, so a port freed a moment ago is rarely reused.
    for (let i = 0; i < Math.min(span * 2, 1000); i++) {
      const p = lo + Math.floor(Math.random() * span);
      if (!used.has(p)) {
        reservedPorts.add(p);
        return p;
      }
    }
    throw new SpawnError('No free port left for a new server', `hostPortRange ${lo}-${hi} exhausted`);
  }

  /**
   * Remove the service, wait until its container is gone, then remove the spawn's volumes.
   * `immediate`: don't wait for the container to stop when there are no volumes to remove.
   */
  private async cleanup(immediate = false): Promise<void> {
    const { serviceName, volumes = [] } = this.st;
    let { serviceId } = this.st;
    if (!serviceId && serviceName) {
      // Only the name was recorded (hub killed during the create call).
      const found = (await ignore404(this.docker.getService(serviceName).inspect())) as { ID?: string; Spec?: { Labels?: Record<string, string> } } | undefined;
      if (found?.Spec?.Labels?.[LABEL_HUB] === this.options.hubId) serviceId = found.ID;
    }
    if (serviceId) {
      await ignore404(this.docker.getService(serviceId).remove());
      // Volumes can only be removed once the container is deleted, which Swarm does a few seconds
      // after it stopped; without volumes, "no longer runs" is enough.
      if (!immediate || volumes.length > 0) await this.waitForContainers(serviceId, volumes.length > 0 ? 'gone' : 'stopped');
    }
    for (const v of volumes) await this.removeVolume(v);
    this.st = {};
  }

  private async waitForContainers(serviceId: string, until: 'gone' | 'stopped'): Promise<void> {
    const deadline = Date.now() + (this.options.stopTimeoutSeconds + 20) * 1000;
    while (Date.now() < deadline) {
      const filters = JSON.stringify({ label: [`com.docker.swarm.service.id=${serviceId}`] });
      const left = await this.docker.listContainers({ all: until === 'gone', filters });
      if (left.length === 0) return;
      await sleep(200);
    }
    this.log.warn({ serviceId }, 'containers of the removed service still exist');
  }

  /**
   * Volumes are node-local: this removes those on the node the API talks to (all of them on a
   * single-node swarm). Elsewhere the driver has already unmounted and deleted the key on Unmount.
   */
  private async removeVolume(name: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        await this.docker.getVolume(name).remove();
        return;
      } catch (err) {
        const code = statusOf(err);
        if (code === 404) return;
        // 409: still in use by a container the engine is removing.
        if (code !== 409 || Date.now() > deadline) {
          this.log.warn({ volume: name, err: engineMessage(err) }, 'could not remove volume');
          return;
        }
        await sleep(250);
      }
    }
  }
}

/** Mounts an environment of the catalogue adds (issue 13); only the hub writes this key. */
function environmentMounts(userOptions: Record<string, unknown>): SwarmMount[] {
  const m = userOptions.environmentMounts;
  return Array.isArray(m) ? (m as SwarmMount[]) : [];
}
