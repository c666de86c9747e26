/**
 * The one source of preload state: what images were asked for, and per Swarm node whether each
 * is waiting, pulling (with bytes done), done, failed (with the engine's reason) or skipped (a
 * node that cannot run servers is reported, never waited for). The Images page, the REST API
 * and `atrium images preload` all read this object. Requests and each node's last status are
 * kept in the database (resume.ts), so a hub restarted in the middle of a preload shows where it
 * was and carries on; bytes of a pull in flight are in memory only.
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
import { PreloadStore, type NodeProgress, type NodePullStatus } from './resume.js';
import { pullViaJob, sweepPreloadJobs } from './job-pull.js';
import { registryAuthFor, type RegistryAuthConfig, type RegistryLogin } from '../../shared/registry-auth.js';

export type { NodePullStatus, NodeProgress };

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
  /** A one-off preload: when every node settled (null while it runs; continuous ones never finish). */
  finished: string | null;
  /** When a hub restart found it unfinished and carried on (null if it never had to). */
  resumed: string | null;
  nodes: NodeProgress[];
}

export type { RegistryLogin };

export interface PreloadSettings {
  endpoints: EngineEndpoints;
  registries: RegistryLogin[];
  pullTimeoutSeconds: number;
  /** Nodes without an engine endpoint are pulled onto through a Swarm job (job-pull.ts). */
  jobFallback: boolean;
  /** Label value of this hub's preload jobs (a restarted hub removes only its own). */
  owner: string;
}

interface Preload {
  ref: ImageRef;
  continuous: boolean;
  requestedBy: string;
  created: string;
  nodes: Map<string, NodeProgress>;
  inflight: Map<string, Promise<void>>;
  finished: string | null;
  resumed: string | null;
  /** Loaded unfinished after a restart: the next tick carries it on. */
  resumePending: boolean;
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
    db: Db,
    private readonly settings: () => PreloadSettings,
    private readonly log: Logger,
  ) {
    this.store = new PreloadStore(db);
    for (const row of this.store.load()) {
      const p = this.fresh(parseImageRef(row.image), row.continuous, row.requestedBy, row.created);
      p.finished = row.finished;
      p.resumed = row.resumed;
      p.nodes = row.nodes;
      p.resumePending = !row.continuous && row.finished === null;
      this.preloads.set(p.ref.ref, p);
    }
  }

  private readonly store: PreloadStore;

  private fresh(ref: ImageRef, continuous: boolean, by: string, created: string): Preload {
    return { ref, continuous, requestedBy: by, created, nodes: new Map(), inflight: new Map(), finished: null, resumed: null, resumePending: false };
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
      // Asked again: a new run, not a resumed one.
      p.finished = null;
      p.resumed = null;
      p.resumePending = false;
      this.store.request(ref.ref, opts.continuous, opts.by, p.created);
      this.runOn(p, nodes);
      this.finishIfSettled(p);
    }
    return refs.map((r) => this.view(this.preloads.get(r.ref)!));
  }

  /** Stop tracking an image (pulled copies stay on the nodes). */
  forget(image: string): boolean {
    const ref = parseImageRef(image);
    this.store.forget(ref.ref);
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
    // One-off preloads a restart interrupted: carried on once (nodes that have it are skipped).
    const interrupted = [...this.preloads.values()].filter((p) => p.resumePending);
    if (continuous.length === 0 && interrupted.length === 0) return;
    let nodes: SwarmNode[];
    try {
      nodes = await this.nodes();
    } catch (err) {
      this.log.warn({ err: engineMessage(err) }, 'preload: the Swarm manager did not answer');
      return;
    }
    for (const p of continuous) this.runOn(p, nodes, true);
    for (const p of interrupted) {
      p.resumePending = false;
      p.resumed = now();
      this.store.resumed(p.ref.ref, p.resumed);
      this.log.info({ image: p.ref.ref }, 'preload: resuming after a hub restart');
      this.runOn(p, nodes);
      this.finishIfSettled(p);
    }
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
    const isNew = !p.nodes.has(n.id);
    const next = { ...cur, ...patch, hostname: n.hostname, updated: now() };
    p.nodes.set(n.id, next);
    // Status changes are stored; the progress of a pull is not (it comes again from the engine).
    const progressOnly = cur.status === 'pulling' && next.status === 'pulling';
    if (isNew || (!progressOnly && (next.status !== cur.status || next.message !== cur.message))) this.store.node(p.ref.ref, next);
    return next;
  }

  /** A one-off preload whose every node has settled is finished: a restart will not carry it on. */
  private finishIfSettled(p: Preload): void {
    if (p.continuous || p.finished || p.inflight.size > 0 || p.nodes.size === 0) return;
    if ([...p.nodes.values()].some((n) => n.status === 'waiting' || n.status === 'pulling')) return;
    p.finished = now();
    this.store.finished(p.ref.ref, p.finished);
  }

  private runOn(p: Preload, nodes: SwarmNode[], recheck = false): void {
    const seen = new Set(nodes.map((n) => n.id));
    for (const id of p.nodes.keys()) {
      if (seen.has(id)) continue;
      p.nodes.delete(id); // left the swarm
      this.store.dropNode(p.ref.ref, id);
    }
    for (const n of nodes) {
      if (!n.schedulable) {
        this.set(p, n, { status: 'skipped', message: `not waited for: ${n.reason}` });
        continue;
      }
      const fallback = !n.engineUrl && this.settings().jobFallback;
      if (!n.engineUrl && !fallback) {
        this.set(p, n, { status: 'failed', message: `no engine endpoint for node ${n.hostname} (set images.nodeEngineUrl or images.nodeEngines)` });
        continue;
      }
      if (p.inflight.has(n.id)) continue;
      const cur = p.nodes.get(n.id);
      // Without an endpoint a re-check would mean another job: a node that has it keeps it.
      if (cur?.status === 'done' && (!recheck || fallback)) continue;
      const job = (fallback ? this.pullThroughJob(p, n) : this.pullOn(p, n)).finally(() => {
        p.inflight.delete(n.id);
        this.finishIfSettled(p);
      });
      p.inflight.set(n.id, job);
    }
  }

  private auth(ref: ImageRef): RegistryAuthConfig | undefined {
    return registryAuthFor(this.settings().registries, ref.ref);
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

  /** A node the hub cannot reach: its own engine pulls, as a Swarm job's task (decision 0021). */
  private async pullThroughJob(p: Preload, n: SwarmNode): Promise<void> {
    this.set(p, n, { status: 'pulling', bytesDone: 0, bytesTotal: 0, message: 'through a Swarm job (no engine endpoint): starting' });
    try {
      await pullViaJob({
        manager: this.manager(),
        image: p.ref.ref,
        nodeId: n.id,
        owner: this.settings().owner,
        auth: this.auth(p.ref),
        timeoutMs: this.settings().pullTimeoutSeconds * 1000,
        onState: (state) => this.set(p, n, { status: 'pulling', message: `through a Swarm job (no engine endpoint): task ${state}` }),
      });
      this.set(p, n, { status: 'done', message: 'pulled through a Swarm job' });
      this.log.info({ image: p.ref.ref, node: n.hostname }, 'preload: pulled through a Swarm job');
    } catch (err) {
      const reason = engineMessage(err);
      this.set(p, n, { status: 'failed', message: `Swarm job: ${reason}` });
      this.log.warn({ image: p.ref.ref, node: n.hostname, reason }, 'preload: job pull failed');
    }
  }

  /** At start: remove preload jobs a previous run of this hub left (it died while they ran). */
  async sweepJobs(): Promise<void> {
    try {
      const removed = await sweepPreloadJobs(this.manager(), this.settings().owner);
      if (removed.length > 0) this.log.warn({ removed }, 'preload: removed jobs a previous hub left behind');
    } catch (err) {
      this.log.warn({ err: engineMessage(err) }, 'preload: could not look for leftover preload jobs');
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
      finished: p.finished,
      resumed: p.resumed,
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
