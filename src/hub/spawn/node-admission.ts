/**
 * Per-node admission for the start queue (issue 15, decisions 0024 and 0027): for a kind that places
 * servers on nodes and lists them (`SpawnerKind.admissionNodes`, e.g. Swarm), keep the queue's node
 * list current so that at most `startQueue.perNode` starts run on each node at once; tell the queue
 * which of those nodes each start may use (an environment's constraints), and count on their nodes
 * the starts the backend shows that this process did not admit (a previous hub process's).
 *
 * The list is read when the first start comes (that start waits for it, a few seconds at most) and
 * then every `nodeRefreshSeconds` while the hub runs. A failed read keeps the last list; before any
 * list arrived the queue admits for the whole backend, so an unreachable engine shows its own error
 * on the first start instead of every start waiting in a queue that never moves.
 */
import type { Logger } from 'pino';
import type { AdmissionView, SpawnerKind } from '../../spawners/spawner.js';
import type { Placement, StartQueue } from './start-queue.js';

/** What the hub tells the kind about the servers it already accounts for (AdmissionView.starting). */
export interface AdmissionAccounts {
  ownerPrefix(): string;
  /** A predicate over owner tags, built once per refresh: true for servers the hub accounts for. */
  settled(): (tag: string) => boolean;
  /**
   * True while the hub has starts it did not admit itself (resumed after a restart). Only then,
   * and at the first refresh, is the backend asked what is starting: a hub with 1,000 running
   * servers does not list them every refresh for nothing.
   */
  inherited(): boolean;
}

/** How long the first start waits for the first node list. */
const FIRST_LIST_WAIT_MS = 5000;

export class NodeAdmission {
  private timer: NodeJS.Timeout | null = null;
  private first: Promise<void> | null = null;
  private closed = false;
  private perNode = 0;
  private refreshMs = 30_000;
  private firstDone = false;
  private firstDeadline = 0;

  constructor(
    private readonly queue: StartQueue,
    private readonly kind: SpawnerKind,
    private readonly kindOptions: () => unknown,
    private readonly log: Logger,
    private readonly accounts?: AdmissionAccounts,
  ) {}

  private view: AdmissionView | null = null;
  /** Bumped with every new view: placements computed for an older one are computed again. */
  private viewGeneration = 0;
  /** Expressions already logged as not evaluable (logged once each, not at every start). */
  private readonly loggedUnknown = new Set<string>();

  /**
   * Where a start with these options may go, for `StartQueue.acquire`: asked at every admission
   * pass, recomputed only when the node list changed. Null when not admitting per node.
   */
  placementFor(userOptions: Record<string, unknown>): (() => Placement) | undefined {
    if (this.perNode <= 0 || !this.supported) return undefined;
    let generation = -1;
    let cached: Placement = null;
    return () => {
      if (generation !== this.viewGeneration) {
        generation = this.viewGeneration;
        cached = this.place(userOptions);
      }
      return cached;
    };
  }

  private place(userOptions: Record<string, unknown>): Placement {
    const answer = this.view?.placement?.(userOptions);
    if (!answer) return null;
    if ('unknown' in answer) {
      this.logOnce(answer.unknown, 'start queue: a placement constraint cannot be evaluated here; such starts are admitted against the whole-cluster limit, on no particular node');
      return 'unknown';
    }
    if (answer.nodes.length === 0) {
      // Waiting for a node that may never come would hold the start with no word; the engine's
      // own "no suitable node" (and unschedulableGraceSeconds) tells the user instead.
      this.logOnce(`none:${JSON.stringify(userOptions.environment ?? '')}`, 'start queue: no listed node meets the placement constraints of a start; it is admitted unpinned and the engine decides');
      return 'unknown';
    }
    return new Set(answer.nodes);
  }

  private logOnce(key: string, msg: string): void {
    if (this.loggedUnknown.has(key)) return;
    this.loggedUnknown.add(key);
    this.log.warn({ constraint: key }, msg);
  }

  /** True when the kind can list nodes at all. */
  get supported(): boolean {
    return typeof this.kind.admissionNodes === 'function';
  }

  /**
   * Follow the config (called before every start): perNode 0 or an unsupported kind turns
   * per-node admission off; otherwise the first call starts the refresh loop and waits (bounded)
   * for the first list.
   */
  async configure(perNode: number, refreshSeconds: number): Promise<void> {
    if (perNode <= 0 || !this.supported || this.closed) {
      if (this.perNode > 0) this.stop();
      return;
    }
    const changed = perNode !== this.perNode;
    this.perNode = perNode;
    this.refreshMs = refreshSeconds * 1000;
    if (!this.first) {
      this.first = this.refresh();
      this.firstDeadline = Date.now() + FIRST_LIST_WAIT_MS;
    }
    // Every start that comes before the first list waits for it: admitted without it, it would
    // escape the per-node limit.
    if (!this.firstDone) {
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([this.first, new Promise<void>((r) => (timeout = setTimeout(r, Math.max(0, this.firstDeadline - Date.now()))))]);
      clearTimeout(timeout);
    }
    if (changed && this.queue.nodeUsage()) this.queue.setNodes([...this.listed], perNode);
  }

  private listed = new Set<string>();
  /** Bumped by stop(): a refresh still in flight from before must not revive the loop. */
  private generation = 0;

  private async refresh(): Promise<void> {
    const generation = this.generation;
    try {
      const ask = this.accounts && (!this.firstDone || this.accounts.inherited());
      const args = ask ? { ownerPrefix: this.accounts!.ownerPrefix(), settled: this.accounts!.settled() } : undefined;
      const view = await this.kind.admissionNodes!(this.kindOptions(), args);
      if (this.closed || generation !== this.generation) return;
      const nodes = view.nodes;
      const before = this.listed;
      this.listed = new Set(nodes);
      this.view = view;
      this.viewGeneration++;
      if (nodes.length === 0) this.log.warn('start queue: the backend lists no node that can take a server; starts wait until one appears');
      else if (before.size !== this.listed.size || nodes.some((n) => !before.has(n))) this.log.info({ nodes: nodes.length, perNode: this.perNode }, 'start queue: admitting per node');
      const external = new Map<string, number>();
      for (const s of view.starting ?? []) external.set(s.node, (external.get(s.node) ?? 0) + 1);
      if (external.size > 0) this.log.info({ starting: Object.fromEntries(external) }, 'start queue: counting starts this hub process did not admit on their nodes');
      this.queue.setNodes(nodes, this.perNode, ask ? external : new Map());
    } catch (err) {
      this.log.warn({ err: String(err) }, 'start queue: could not list the backend nodes; keeping the last list');
    } finally {
      if (generation === this.generation) this.firstDone = true;
      if (!this.closed && generation === this.generation) {
        this.timer = setTimeout(() => void this.refresh(), this.refreshMs);
        this.timer.unref();
      }
    }
  }

  /** Back to whole-backend admission (perNode set to 0 by a config reload). */
  private stop(): void {
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.first = null;
    this.firstDone = false;
    this.perNode = 0;
    this.listed = new Set();
    this.view = null;
    this.viewGeneration++;
    this.queue.setNodes(null);
  }

  /** Stop refreshing (hub shutdown); starts already admitted keep their slots. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
