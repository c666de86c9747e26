/**
 * The Swarm service for one user server, as the Docker API wants it. Pure: everything that talks to
 * Docker lives in swarm-spawner.ts, so the spec can be checked without an engine.
 */
import { environmentConstraints, nodeConstraint } from './constraints.js';
import { createHash } from 'node:crypto';
import { serviceUrl, type SpawnContext } from '../spawner.js';
import type { SwarmUserOptions } from './form.js';
import type { DockerMount } from './mounts.js';
import type { SwarmSpawnerOptions } from './options.js';
import { cpusToNano, formatSize, parseSizeBytes } from './sizes.js';

export const LABEL_HUB = 'atrium.hub';
export const LABEL_USER = 'atrium.user';
export const LABEL_SERVER = 'atrium.server';
export const LABEL_PORT = 'atrium.port';
/** The spawn attempt's owner tag (spawner.ts, "Crash safety"): how the start-up sweep finds it. */
export const LABEL_OWNER = 'atrium.owner';

/**
 * Deterministic per (hub, user, server), so a service left behind by a crashed hub is found and
 * replaced. User names may hold characters Docker refuses (@, _, .), and two names may sanitise to
 * the same string, hence the hash.
 */
export function serviceNameFor(hubId: string, user: string, server: string): string {
  const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  const hash = createHash('sha256').update(`${hubId}\0${user}\0${server}`).digest('hex').slice(0, 8);
  const readable = [clean(user), clean(server)].filter(Boolean).join('-').slice(0, 40);
  return `atrium-${readable ? `${readable}-` : ''}${hash}`;
}

export function hubLabels(hubId: string, user: string, server: string, ownerTag?: string): Record<string, string> {
  return { [LABEL_HUB]: hubId, [LABEL_USER]: user, [LABEL_SERVER]: server, ...(ownerTag ? { [LABEL_OWNER]: ownerTag } : {}) };
}

export interface SpecInput {
  options: SwarmSpawnerOptions;
  ctx: SpawnContext;
  userOptions: SwarmUserOptions;
  serviceName: string;
  /** The port the server listens on (host port with host networking, options.port otherwise). */
  port: number;
  mounts: DockerMount[];
}

/** Container user: the LDAP hook's NB_UID/NB_GID win over the admin default. */
function containerUser(options: SwarmSpawnerOptions, env: Record<string, string>): string | undefined {
  const uid = env.NB_UID;
  if (options.uidFromEnv && uid && /^\d+$/.test(uid)) {
    const gid = env.NB_GID;
    return gid && /^\d+$/.test(gid) ? `${uid}:${gid}` : uid;
  }
  return options.user;
}

export function buildServiceSpec(input: SpecInput): Record<string, unknown> {
  const { options, ctx, userOptions, serviceName, port } = input;
  const hostNet = options.network === 'host';
  // With host networking the server binds on its node; on an overlay it binds all addresses of its
  // own network namespace and is reached by service name.
  const bind = hostNet ? options.hostBindAddress : '0.0.0.0';

  const cpuLimit = userOptions.cpuLimit ?? options.cpuLimit;
  const memLimit = userOptions.memoryLimitBytes ?? (options.memoryLimit === undefined ? undefined : parseSizeBytes(options.memoryLimit));
  const memReservation = options.memoryReservation === undefined ? undefined : parseSizeBytes(options.memoryReservation);
  // A reservation above the limit would be refused by Docker; the user picked a smaller limit.
  const memRes = memReservation !== undefined && memLimit !== undefined ? Math.min(memReservation, memLimit) : memReservation;
  const cpuRes = options.cpuReservation !== undefined && cpuLimit !== undefined ? Math.min(options.cpuReservation, cpuLimit) : options.cpuReservation;

  const env: Record<string, string> = { ...ctx.env, ...options.environment };
  if (memLimit !== undefined) env.MEM_LIMIT = String(memLimit);
  if (memRes !== undefined) env.MEM_GUARANTEE = String(memRes);
  if (cpuLimit !== undefined) env.CPU_LIMIT = String(cpuLimit);
  if (cpuRes !== undefined) env.CPU_GUARANTEE = String(cpuRes);
  env.JUPYTERHUB_SERVICE_URL = serviceUrl(bind, port, ctx.baseUrl);

  const labels = { ...hubLabels(options.hubId, ctx.user.name, ctx.serverName, ctx.ownerTag), [LABEL_PORT]: String(port) };
  const generic = Object.entries(options.genericResources).map(([Kind, Value]) => ({ DiscreteResourceSpec: { Kind, Value } }));

  return {
    Name: serviceName,
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: userOptions.image,
        // Args, not Command: keeps the image's entrypoint (tini in docker-stacks images).
        Args: [...options.command, ...options.args],
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        Labels: labels,
        User: containerUser(options, ctx.env),
        Mounts: input.mounts,
        StopGracePeriod: options.stopTimeoutSeconds * 1e9,
        // Docker refuses a hostname together with host networking.
        ...(hostNet ? {} : { Hostname: serviceName }),
      },
      Resources: {
        Limits: {
          ...(cpuLimit !== undefined ? { NanoCPUs: cpusToNano(cpuLimit) } : {}),
          ...(memLimit !== undefined ? { MemoryBytes: memLimit } : {}),
        },
        Reservations: {
          ...(cpuRes !== undefined ? { NanoCPUs: cpusToNano(cpuRes) } : {}),
          ...(memRes !== undefined ? { MemoryBytes: memRes } : {}),
          ...(generic.length > 0 ? { GenericResources: generic } : {}),
        },
      },
      // A server that exits stays stopped: the hub notices through poll() and the user restarts it.
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      // The admin's constraints, an environment's own (catalogue), and the start queue's node when
      // it admits per node (nodes.ts): the count per node holds only if the server lands there.
      Placement: { Constraints: [...options.placementConstraints, ...environmentConstraints(ctx.userOptions), ...(ctx.node ? [nodeConstraint(ctx.node)] : [])] },
      Networks: [{ Target: hostNet ? 'host' : options.network }],
    },
    Mode: { Replicated: { Replicas: 1 } },
  };
}

/** For log lines: "2 CPU, 4G". */
export function describeLimits(spec: Record<string, unknown>): string {
  const res = (spec.TaskTemplate as { Resources: { Limits: { NanoCPUs?: number; MemoryBytes?: number } } }).Resources.Limits;
  const parts = [];
  if (res.NanoCPUs) parts.push(`${res.NanoCPUs / 1e9} CPU`);
  if (res.MemoryBytes) parts.push(formatSize(res.MemoryBytes));
  return parts.join(', ') || 'no limits';
}
