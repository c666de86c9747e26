/**
 * The one source of preload state: what images were asked for, and per Swarm node whether each
 * is waiting, pulling (with bytes done), done, failed (with the engine's reason) or skipped (a
 * node that cannot run servers is reported, never waited for). The Images page, the REST API
 * and `atrium images preload` all read this object. Requests are kept in the database so a
 * restarted hub carries on; node progress is in memory (a re-check of a pulled image is cheap).
 */
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { Db } from '../db/index.js';
import { now } from '../db/index.js';
import { dockerClient, engineMessage, statusOf } from '../../spawners/swarm/docker-client.js';
import { listNodes, type EngineEndpoints, type SwarmNode } from './nodes.js';
import { pullWithProgress } from '../../spawners/swarm/pull-progress.js';
import { parseImageRef, repositoryOfTag, type ImageRef } from './refs.js';
import { atriumError } from '../errors.js';

export type NodePullStatus = 'waiting' | 'pulling' | 'done' | 'failed' | 'skipped';

export interface NodeProgress {
  node: string;
  hostname: string;
  status: NodePullStatus;
  bytesDone: number;
  bytesTotal: number;
  message: string;
  updated: string;
}

export interface PreloadView {
  image: string;
  continuous: boolean;
  requestedBy: string;
  created: string;
  /** Schedulable nodes holding the image, and how many schedulable nodes there are. */
  ready: number;
  total: number;
  /** Every schedulable node has it (unschedulable ones are not waited for). */
  complete: boolean;
  nodes: NodeProgress[];
}

export interface RegistryLogin {
  host: string;
  username: string;
  password: string;
}

export interface PreloadSettings {
  endpoints: EngineEndpoints;
  registries: RegistryLogin[];
  pullTimeoutSeconds: number;
}

interface Preload {
  ref: ImageRef;
  continuous: boolean;
  requestedBy: string;
  created: string;
  nodes: Map<string, NodeProgress>;
  inflight: Map<string, Promise<void>>;
}

export interface PruneResult {
  node: string;
  hostname: string;
  removed: string[];
  kept: { image: string; why: string }[];
  error?: string;
}

export class PreloadManager {
  private readonly preloads = new Map<string, Preload>();
  private lastNodes: SwarmNode[] = [];

  constructor(
    private readonly db: Db,
    private readonly settings: () => PreloadSettings,
    private readonly log: Logger,
  ) {
    for (const row of db.prepare('SELECT image, continuous, requested_by, created FROM image_preloads ORDER BY created').all() as {
      image: string; continuous: number; requested_by: string; created: string;
    }[]) {
      this.preloads.set(row.image, this.fresh(parseImageRef(row.image), row.continuous === 1, row.requested_by, row.created));
    }
  }

  private fresh(ref: ImageRef, continuous: boolean, by: string, created: string): Preload {
    return { ref, continuous, requestedBy: by, created, nodes: new Map(), inflight: new Map() };
  }

  private manager(): Docker {
    return dockerClient(this.settings().endpoints.managerUrl);
  }

  /** Ask for images to be on every node; starts the pulls and returns at once. */
  async request(images: string[], opts: { continuous: boolean; by: string }): Promise<PreloadView[]> {
    const refs = images.map((i) => parseImageRef(i));
    const nodes = await this.nodes();
    for (const ref of refs) {
      let p = this.preloads.get(ref.ref);
      if (!p) {
        p = this.fresh(ref, opts.continuous, opts.by, now());
        this.preloads.set(ref.ref, p);
      } else {
        p.continuous = opts.continuous;
        p.requestedBy = opts.by;
      }
      this.db.prepare('INSERT INTO image_preloads (image, continuous, requested_by, created) VALUES (?, ?, ?, ?) ON CONFLICT(image) DO UPDATE SET continuous = excluded.continuous, requested_by = excluded.requested_by')
        .run(ref.ref, opts.continuous ? 1 : 0, opts.by, p.created);
      this.runOn(p, nodes);
    }
    return refs.map((r) => this.view(this.preloads.get(r.ref)!));
  }

  /** Stop tracking an image (pulled copies stay on the nodes). */
  forget(image: string): boolean {
    const ref = parseImageRef(image);
    this.db.prepare('DELETE FROM image_preloads WHERE image = ?').run(ref.ref);
    return this.preloads.delete(ref.ref);
  }

  list(): PreloadView[] {
    return [...this.preloads.values()].map((p) => this.view(p));
  }

  get(image: string): PreloadView | null {
    const p = this.preloads.get(parseImageRef(image).ref);
    return p ? this.view(p) : null;
  }

  /** "ready on N/M nodes" for any image, tracked or not (environments show this). */
  readiness(image: string): { ready: number; total: number; tracked: boolean } {
    let ref: string;
    try { ref = parseImageRef(image).ref; } catch { return { ready: 0, total: 0, tracked: false }; }
    const p = this.preloads.get(ref);
    if (!p) return { ready: 0, total: this.lastNodes.filter((n) => n.schedulable).length, tracked: false };
    const v = this.view(p);
    return { ready: v.ready, total: v.total, tracked: true };
  }

  /**
   * Continuous mode: pull continuous preloads onto nodes that joined since, and re-check the
   * others. Called on a timer by the plugin; errors are logged, the next tick tries again.
   */
  async tick(): Promise<void> {
    const continuous = [...this.preloads.values()].filter((p) => p.continuous);
    if (continuous.length === 0) return;
    let nodes: SwarmNode[];
    try {
      nodes = await this.nodes();
    } catch (err) {
      this.log.warn({ err: engineMessage(err) }, 'preload: the Swarm manager did not answer');
      return;
    }
    for (const p of continuous) this.runOn(p, nodes, true);
  }

  /** Wait until every pull now in flight has ended (tests and the CLI's --wait use the API instead). */
  async settled(): Promise<void> {
    for (;;) {
      const all = [...this.preloads.values()].flatMap((p) => [...p.inflight.values()]);
      if (all.length === 0) return;
      await Promise.allSettled(all);
    }
  }

  private async nodes(): Promise<SwarmNode[]> {
    try {
      this.lastNodes = await listNodes(this.manager(), this.settings().endpoints);
    } catch (err) {
      throw atriumError('ATRIUM_ERR_IMAGES_ENGINE', `The Swarm manager did not answer: ${engineMessage(err)}`);
    }
    return this.lastNodes;
  }

  private set(p: Preload, n: SwarmNode, patch: Partial<NodeProgress>): NodeProgress {
    const cur = p.nodes.get(n.id) ?? { node: n.id, hostname: n.hostname, status: 'waiting', bytesDone: 0, bytesTotal: 0, message: '', updated: now() };
    const next = { ...cur, ...patch, hostname: n.hostname, updated: now() };
    p.nodes.set(n.id, next);
    return next;
  }

  private runOn(p: Preload, nodes: SwarmNode[], recheck = false): void {
    const seen = new Set(nodes.map((n) => n.id));
    for (const id of p.nodes.keys()) if (!seen.has(id)) p.nodes.delete(id); // left the swarm
    for (const n of nodes) {
      if (!n.schedulable) {
        this.set(p, n, { status: 'skipped', message: `not waited for: ${n.reason}` });
        continue;
      }
      if (!n.engineUrl) {
        this.set(p, n, { status: 'failed', message: `no engine endpoint for node ${n.hostname} (set images.nodeEngineUrl or images.nodeEngines)` });
        continue;
      }
      if (p.inflight.has(n.id)) continue;
      const cur = p.nodes.get(n.id);
      if (cur?.status === 'done' && !recheck) continue;
      const job = this.pullOn(p, n).finally(() => p.inflight.delete(n.id));
      p.inflight.set(n.id, job);
    }
  }

  private auth(ref: ImageRef): Record<string, string> | undefined {
    const login = this.settings().registries.find((r) => r.host === ref.registry);
    return login ? { username: login.username, password: login.password, serveraddress: login.host } : undefined;
  }

  private async pullOn(p: Preload, n: SwarmNode): Promise<void> {
    const engine = dockerClient(n.engineUrl!);
    const present = await engine.getImage(p.ref.ref).inspect().then((i: { Size?: number }) => i, () => null);
    if (present) {
      const size = Number(present.Size ?? 0);
      this.set(p, n, { status: 'done', bytesDone: size, bytesTotal: size, message: 'present' });
      return;
    }
    this.set(p, n, { status: 'pulling', bytesDone: 0, bytesTotal: 0, message: 'starting pull' });
    try {
      await pullWithProgress(engine, p.ref.ref, {
        authconfig: this.auth(p.ref),
        timeoutMs: this.settings().pullTimeoutSeconds * 1000,
        onBytes: (b) => this.set(p, n, { status: 'pulling', bytesDone: b.done, bytesTotal: b.total, message: b.status }),
      });
      const info = (await engine.getImage(p.ref.ref).inspect()) as { Size?: number };
      const size = Number(info.Size ?? 0);
      this.set(p, n, { status: 'done', bytesDone: size, bytesTotal: size, message: 'pulled' });
      this.log.info({ image: p.ref.ref, node: n.hostname }, 'preload: pulled');
    } catch (err) {
      const reason = engineMessage(err);
      this.set(p, n, { status: 'failed', message: reason });
      this.log.warn({ image: p.ref.ref, node: n.hostname, reason, status: statusOf(err) }, 'preload: pull failed');
    }
  }

  private view(p: Preload): PreloadView {
    const nodes = [...p.nodes.values()].sort((a, b) => a.hostname.localeCompare(b.hostname));
    const counted = nodes.filter((n) => n.status !== 'skipped');
    const ready = counted.filter((n) => n.status === 'done').length;
    return {
      image: p.ref.ref,
      continuous: p.continuous,
      requestedBy: p.requestedBy,
      created: p.created,
      ready,
      total: counted.length,
      complete: counted.length > 0 && ready === counted.length,
      nodes,
    };
  }

  /**
   * Remove other versions of `image`'s repository from every node, except the version asked
   * for, versions in `inUse` (images of running sessions, from the hub's database) and any image
   * a container on that node still uses (checked on the node; removal is never forced).
   */
  async prune(image: string, inUse: Set<string>): Promise<PruneResult[]> {
    const keep = parseImageRef(image);
    const nodes = await this.nodes();
    const out: PruneResult[] = [];
    for (const n of nodes) {
      const r: PruneResult = { node: n.id, hostname: n.hostname, removed: [], kept: [] };
      out.push(r);
      if (!n.engineUrl) {
        r.error = 'no engine endpoint';
        continue;
      }
      try {
        const engine = dockerClient(n.engineUrl);
        const images = (await engine.listImages()) as { Id: string; RepoTags?: string[] }[];
        const containers = (await engine.listContainers({ all: true })) as { ImageID?: string; Image?: string }[];
        const usedIds = new Set(containers.map((c) => c.ImageID).filter(Boolean));
        for (const img of images) {
          for (const tag of img.RepoTags ?? []) {
            if (repositoryOfTag(tag) !== keep.repository || tag === keep.ref) continue;
            if (inUse.has(tag)) r.kept.push({ image: tag, why: 'a running session uses it' });
            else if (usedIds.has(img.Id)) r.kept.push({ image: tag, why: 'a container on this node uses it' });
            else {
              try {
                await engine.getImage(tag).remove();
                r.removed.push(tag);
              } catch (err) {
                r.kept.push({ image: tag, why: engineMessage(err) });
              }
            }
          }
        }
      } catch (err) {
        r.error = engineMessage(err);
      }
    }
    this.log.info({ image: keep.ref, result: out }, 'preload: pruned');
    return out;
  }
}
