/**
 * Admission control for server starts: at most `slots` starts run at once, the rest wait in
 * first-come-first-served order. Without it a class of 60 clicking "Start" together launches 60
 * Python servers on a 2-core machine; they share the CPU evenly, so every student waits as long as
 * the slowest, and the hub itself starves. With it the first notebooks arrive in seconds and the
 * rest follow one slot at a time (docs/decisions/0015-start-queue.md).
 *
 * A slot is held from the moment the backend is asked to start until the server answers HTTP
 * (or the spawn fails): that is when the server burns CPU. Waiters learn their position and an
 * estimate built from how long recent starts held a slot; an aborted wait (Cancel, timeout,
 * shutdown) leaves the queue at once.
 */
import { availableParallelism } from 'node:os';
import { atriumError } from '../errors.js';

export interface QueuePosition {
  /** 1-based place in the queue (1 = next to start). */
  position: number;
  /** Starts waiting in total. */
  queued: number;
  /** Rough seconds until this start begins, or null before any start finished. */
  estimateSeconds: number | null;
}

/**
 * What a granted start holds: call it exactly once when the start is over. `node` is the backend
 * node the slot belongs to when the queue admits per node (the start must be placed there).
 */
export type Slot = (() => void) & { readonly node?: string };

/**
 * Where one start may go when the queue admits per node: some of the listed nodes (an
 * environment's constraints), `'unknown'` (the backend cannot tell: admitted against the whole
 * capacity, on no particular node), or null (any listed node). Asked again at every admission
 * pass, so a refreshed node list applies to starts already waiting.
 */
export type Placement = ReadonlySet<string> | 'unknown' | null;

interface Waiter {
  key: string;
  enqueued: number;
  grant: (release: Slot) => void;
  fail: (err: unknown) => void;
  onUpdate: (p: QueuePosition) => void;
  lastPosition: number;
  place?: () => Placement;
}

/** Weight of the newest hold time in the running average (recent starts matter most). */
const EWMA_WEIGHT = 0.3;
/** Position updates are batched: one pass over the waiters at most this often. */
const UPDATE_INTERVAL_MS = 250;

export class StartQueue {
  private readonly waiters: Waiter[] = [];
  private inUse = 0;
  /**
   * Per-node admission (setNodes): starts holding a slot on each node, for the nodes the backend
   * listed last plus nodes that left the list while starts still held slots there (draining, never
   * granted again). null: the queue admits for the whole backend only.
   */
  private nodes: Map<string, number> | null = null;
  private listed = new Set<string>();
  private perNode = 0;
  /**
   * Starts on each node that no slot of this queue holds: what the backend reports still starting
   * there (a restarted hub's inheritance, decision 0027). Replaced with every node refresh.
   */
  private external = new Map<string, number>();
  /** Starts admitted per node but on no particular node (unknown placement). */
  private unpinned = 0;
  private avgHoldMs: number | null = null;
  private updateTimer: NodeJS.Timeout | null = null;
  private lastUpdate = 0;

  constructor(
    /** Starts allowed at once; 0 = no admission control (acquire() grants at once). */
    public slots: number,
    private readonly observe: { queueLength?: (n: number) => void; waited?: (seconds: number) => void } = {},
  ) {}

  get enabled(): boolean {
    return this.slots > 0 || this.nodes !== null;
  }

  /**
   * Admit per backend node: at most `perNode` starts at once on each of `nodes` (the backend's
   * current list; a start is granted with the least busy node that has room). Called again with
   * every refresh of the list; a node that left keeps its running starts until they release.
   * `null` turns per-node admission off again (the whole-backend `slots` rule alone).
   */
  setNodes(nodes: readonly string[] | null, perNode = this.perNode, external?: ReadonlyMap<string, number>): void {
    if (nodes === null) {
      this.nodes = null;
      this.listed = new Set();
      this.external = new Map();
    } else {
      if (external) this.external = new Map(external);
      const next = new Map<string, number>();
      for (const n of nodes) next.set(n, this.nodes?.get(n) ?? 0);
      for (const [n, used] of this.nodes ?? []) if (used > 0 && !next.has(n)) next.set(n, used);
      this.nodes = next;
      this.listed = new Set(nodes);
      this.perNode = Math.max(1, perNode);
    }
    this.admit();
    this.scheduleUpdates();
  }

  /** Starts holding a slot per node (per-node admission only), for the status line and tests. */
  nodeUsage(): Map<string, number> | null {
    return this.nodes ? new Map(this.nodes) : null;
  }

  /** Starts counted on each node that this queue did not admit (see `external`), for tests and logs. */
  externalUsage(): Map<string, number> {
    return new Map(this.external);
  }

  /** Starts that can run at once: `slots`, or nodes × per node (capped by `slots` when both are set). */
  private capacity(): number {
    if (this.nodes === null) return this.slots;
    const nodeSlots = this.listed.size * this.perNode;
    return this.slots > 0 ? Math.min(this.slots, nodeSlots) : nodeSlots;
  }

  /** Starts in flight on the listed nodes (this queue's and inherited) plus the unpinned ones. */
  private busy(): number {
    let n = this.unpinned;
    for (const node of this.listed) n += (this.nodes!.get(node) ?? 0) + (this.external.get(node) ?? 0);
    return n;
  }

  /**
   * The node a start granted now would get: the listed node (among `allowed`) with the fewest
   * starts, its own and inherited, and room.
   */
  private freeNode(allowed: ReadonlySet<string> | null): string | undefined {
    let best: string | undefined;
    let bestUsed = Infinity;
    for (const n of this.listed) {
      if (allowed && !allowed.has(n)) continue;
      const used = (this.nodes!.get(n) ?? 0) + (this.external.get(n) ?? 0);
      if (used < this.perNode && used < bestUsed) {
        best = n;
        bestUsed = used;
      }
    }
    return best;
  }

  /** Room for one more start now (and, per node, where) for a start that may go to `place`. */
  private room(place: Placement = null): { ok: boolean; node?: string } {
    if (this.slots > 0 && this.inUse >= this.slots) return { ok: false };
    if (this.nodes === null) return { ok: true };
    // Whole-cluster bound: starts of unknown placement may land anywhere, so the total over the
    // listed nodes is capped too (starts on nodes that left the list do not count against it).
    if (this.busy() >= this.capacity()) return { ok: false };
    if (place === 'unknown') return { ok: true };
    const node = this.freeNode(place);
    return node === undefined ? { ok: false } : { ok: true, node };
  }

  /** Starts waiting for a slot. */
  get length(): number {
    return this.waiters.length;
  }

  /** Starts holding a slot. */
  get running(): number {
    return this.inUse;
  }

  /** 1-based position of a waiting start, or null if it is not waiting. */
  positionOf(key: string): QueuePosition | null {
    const i = this.waiters.findIndex((w) => w.key === key);
    return i < 0 ? null : this.describe(i + 1);
  }

  /** Seconds until a start at `position` would begin, from recent hold times. */
  estimateSeconds(position: number): number | null {
    const capacity = this.capacity();
    if (this.avgHoldMs === null || !this.enabled || capacity <= 0) return null;
    // `position` starts must finish before this one gets a slot; `capacity` of them run side by side.
    return Math.max(1, Math.round((Math.ceil(position / capacity) * this.avgHoldMs) / 1000));
  }

  /**
   * Wait for a slot. Resolves with the release function (call it exactly once, when the start is
   * over); rejects with the signal's reason if `signal` aborts while waiting. `onUpdate` is
   * called when the position changes (at once with the first position if the start must wait).
   */
  acquire(key: string, signal: AbortSignal, onUpdate: (p: QueuePosition) => void, place?: () => Placement): Promise<Slot> {
    if (signal.aborted) return Promise.reject(signal.reason ?? atriumError('ATRIUM_ERR_SPAWN_CANCELLED'));
    // Per node, starts for other nodes may be waiting; any room left now is room none of them can
    // use (admit() hands out room as soon as it appears), so a newcomer may take it.
    const mayTake = this.waiters.length === 0 || this.nodes !== null;
    const room = this.enabled && mayTake ? this.room(place?.() ?? null) : { ok: !this.enabled };
    if (room.ok) return Promise.resolve(this.take(room.node));
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        key,
        enqueued: performance.now(),
        grant: resolve,
        fail: reject,
        onUpdate,
        lastPosition: this.waiters.length + 1,
        ...(place ? { place } : {}),
      };
      this.waiters.push(w);
      this.observe.queueLength?.(this.waiters.length);
      onUpdate(this.describe(w.lastPosition));
      const onAbort = () => {
        const i = this.waiters.indexOf(w);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        this.observe.queueLength?.(this.waiters.length);
        this.scheduleUpdates();
        reject(signal.reason ?? atriumError('ATRIUM_ERR_SPAWN_CANCELLED'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // Drop the listener once granted, so a later abort (e.g. start timeout) does not touch us.
      w.grant = (release: Slot) => {
        signal.removeEventListener('abort', onAbort);
        resolve(release);
      };
    });
  }

  /** Change the number of slots (config reload); waiters are admitted if room appeared. */
  resize(slots: number): void {
    this.slots = slots;
    this.admit();
  }

  /** Occupy a slot (on `node` when admitting per node) and hand out its release function. */
  private take(node: string | undefined): Slot {
    this.inUse++;
    if (node !== undefined) this.nodes!.set(node, (this.nodes!.get(node) ?? 0) + 1);
    const unpinned = node === undefined && this.nodes !== null;
    if (unpinned) this.unpinned++;
    const started = performance.now();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.inUse--;
      if (unpinned) this.unpinned--;
      if (node !== undefined && this.nodes?.has(node)) {
        const left = this.nodes.get(node)! - 1;
        // A node that left the backend's list is forgotten once its last start is over.
        if (left === 0 && !this.listed.has(node)) this.nodes.delete(node);
        else this.nodes.set(node, Math.max(0, left));
      }
      const held = performance.now() - started;
      this.avgHoldMs = this.avgHoldMs === null ? held : this.avgHoldMs * (1 - EWMA_WEIGHT) + held * EWMA_WEIGHT;
      this.admit();
    };
    return node === undefined ? release : Object.assign(release, { node });
  }

  /**
   * Grant waiting starts while there is room, first come first served. Per node, a start whose
   * nodes are all busy does not hold up later ones bound for other nodes (a GPU class waiting for
   * its two nodes must not park everyone else); it keeps its place for the next room on its nodes.
   */
  private admit(): void {
    let moved = false;
    for (let i = 0; i < this.waiters.length; ) {
      const w = this.waiters[i]!;
      const room = this.enabled ? this.room(w.place?.() ?? null) : { ok: true };
      if (!room.ok) {
        // Whole-backend admission, or no room anywhere: nobody behind can go either.
        if (this.nodes === null || !this.room('unknown').ok) break;
        i++;
        continue;
      }
      this.waiters.splice(i, 1);
      this.observe.waited?.((performance.now() - w.enqueued) / 1000);
      w.grant(this.take(room.node));
      moved = true;
    }
    if (moved) {
      this.observe.queueLength?.(this.waiters.length);
      this.scheduleUpdates();
    }
  }

  private describe(position: number): QueuePosition {
    return { position, queued: this.waiters.length, estimateSeconds: this.estimateSeconds(position) };
  }

  /** Tell waiters whose position changed, batched so a long queue costs O(n) per interval. */
  private scheduleUpdates(): void {
    if (this.updateTimer) return;
    const delay = Math.max(0, this.lastUpdate + UPDATE_INTERVAL_MS - performance.now());
    this.updateTimer = setTimeout(() => {
      this.updateTimer = null;
      this.lastUpdate = performance.now();
      this.waiters.forEach((w, i) => {
        if (w.lastPosition === i + 1) return;
        w.lastPosition = i + 1;
        w.onUpdate(this.describe(i + 1));
      });
    }, delay);
    this.updateTimer.unref();
  }
}

/**
 * Slots for a configured value: >0 is taken as is; 0 means automatic, which is the hub machine's
 * core count when servers run on the hub's host (local spawner) and no admission control for
 * remote backends, whose capacity the hub's cores say nothing about.
 */
export function resolveSlots(configured: number, serversOnHubHost: boolean): number {
  if (configured > 0) return configured;
  return serversOnHubHost ? availableParallelism() : 0;
}

/** The pending page's line for a waiting start (shown through the progress stream). */
export function queueMessage(p: QueuePosition): string {
  const place = p.position === 1 ? 'You are next in the start queue' : `You are number ${p.position} of ${p.queued} in the start queue`;
  const wait = p.estimateSeconds === null ? '' : ` (about ${formatWait(p.estimateSeconds)})`;
  return `${place}${wait}; servers start a few at a time so that each starts quickly.`;
}

function formatWait(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  return `${Math.round(seconds / 60)} min`;
}
