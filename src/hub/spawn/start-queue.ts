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

interface Waiter {
  key: string;
  enqueued: number;
  grant: (release: () => void) => void;
  fail: (err: unknown) => void;
  onUpdate: (p: QueuePosition) => void;
  lastPosition: number;
}

/** Weight of the newest hold time in the running average (recent starts matter most). */
const EWMA_WEIGHT = 0.3;
/** Position updates are batched: one pass over the waiters at most this often. */
const UPDATE_INTERVAL_MS = 250;

export class StartQueue {
  private readonly waiters: Waiter[] = [];
  private inUse = 0;
  private avgHoldMs: number | null = null;
  private updateTimer: NodeJS.Timeout | null = null;
  private lastUpdate = 0;

  constructor(
    /** Starts allowed at once; 0 = no admission control (acquire() grants at once). */
    public slots: number,
    private readonly observe: { queueLength?: (n: number) => void; waited?: (seconds: number) => void } = {},
  ) {}

  get enabled(): boolean {
    return this.slots > 0;
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
    if (this.avgHoldMs === null || !this.enabled) return null;
    // `position` starts must finish before this one gets a slot; `slots` of them run side by side.
    return Math.max(1, Math.round((Math.ceil(position / this.slots) * this.avgHoldMs) / 1000));
  }

  /**
   * Wait for a slot. Resolves with the release function (call it exactly once, when the start is
   * over); rejects with the signal's reason if `signal` aborts while waiting. `onUpdate` is
   * called when the position changes (at once with the first position if the start must wait).
   */
  acquire(key: string, signal: AbortSignal, onUpdate: (p: QueuePosition) => void): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason ?? atriumError('ATRIUM_ERR_SPAWN_CANCELLED'));
    if (!this.enabled || (this.inUse < this.slots && this.waiters.length === 0)) {
      this.inUse++;
      return Promise.resolve(this.releaser(performance.now()));
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        key,
        enqueued: performance.now(),
        grant: resolve,
        fail: reject,
        onUpdate,
        lastPosition: this.waiters.length + 1,
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
      w.grant = (release) => {
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

  private releaser(started: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      const held = performance.now() - started;
      this.avgHoldMs = this.avgHoldMs === null ? held : this.avgHoldMs * (1 - EWMA_WEIGHT) + held * EWMA_WEIGHT;
      this.admit();
    };
  }

  private admit(): void {
    let moved = false;
    while (this.waiters.length && (!this.enabled || this.inUse < this.slots)) {
      const w = this.waiters.shift()!;
      this.inUse++;
      this.observe.waited?.((performance.now() - w.enqueued) / 1000);
      w.grant(this.releaser(performance.now()));
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
