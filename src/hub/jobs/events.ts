/**
 * What the portal's pages hear about: job changes (from the tracker, i.e. from the one squeue
 * per cycle) and sessions that start, stop or fail. One event source per open page subscribes
 * here; nothing polls Slurm per browser.
 *
 * Sessions are watched by diffing the spawn manager's in-memory table once a second while
 * anybody listens, or a page was rendered in the last minute (its stream is about to open, and a
 * session that becomes ready in between must still make an event): cheap (no backend call), and
 * it needs no hook inside the spawn lifecycle.
 *
 * Every event gets an id, "EPOCH-SEQ" (EPOCH changes with each hub start). A page is rendered
 * with the cursor of that moment and opens its stream "after" it; a reconnecting EventSource
 * sends the last id it saw. Recent events are kept for a while so the stream first replays what
 * the page missed in between: a job cancelled between the page's render and its stream's open
 * (the tracker is nudged right after scancel) would otherwise stay PENDING on screen. When the
 * gap cannot be replayed (another hub start, events dropped) the page is told to re-read its rows.
 */
import { randomBytes } from 'node:crypto';
import type { SpawnManager } from '../spawn/manager.js';
import { spawnFailureText } from '../error-classify.js';

export interface PortalEvent {
  type: 'job' | 'session';
  /** started | finished | failed | cancelled | queued | update */
  what: string;
  user: string;
  message: string;
  /** For jobs: the job's API model; for sessions: { server, url }. */
  data: Record<string, unknown>;
}

type Listener = (e: PortalEvent, id: string) => void;

/** How many recent events are kept for replay, and for how long. */
const KEEP_EVENTS = 512;
const KEEP_MS = 15 * 60_000;
/** How long sessions are still watched after the last listener left or a page was rendered. */
const LINGER_MS = 60_000;
const CURSOR = /^([0-9a-f]{8})-(\d{1,15})$/;

/** What a stream opened after a cursor must first be sent. */
export type Replay = { events: Array<{ id: string; e: PortalEvent }> } | { resync: true };

export class PortalEvents {
  /** user name → listeners; '*' hears everyone (admins). */
  private readonly listeners = new Map<string, Set<Listener>>();
  private sessionTimer: NodeJS.Timeout | null = null;
  private phases = new Map<string, { user: string; server: string; phase: string; url: string }>();
  private readonly epoch = randomBytes(4).toString('hex');
  private seq = 0;
  /** Recent events, oldest first; `lost` is the highest seq dropped from it. */
  private recent: Array<{ seq: number; at: number; e: PortalEvent }> = [];
  private lost = 0;
  private lingerUntil = 0;

  constructor(private readonly spawns: SpawnManager | null) {}

  get size(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  subscribe(user: string, fn: Listener): () => void {
    let set = this.listeners.get(user);
    if (!set) this.listeners.set(user, (set = new Set()));
    set.add(fn);
    this.watchSessions();
    return () => {
      set!.delete(fn);
      if (set!.size === 0) this.listeners.delete(user);
      // The watcher stops itself a minute after the last listener: the next page is on its way.
      this.lingerUntil = Date.now() + LINGER_MS;
    };
  }

  /** The id of the newest event: a page rendered now has seen everything up to it. */
  cursor(): string {
    // A page is being rendered: its stream opens soon and must hear sessions that change before.
    this.lingerUntil = Date.now() + LINGER_MS;
    this.watchSessions();
    return `${this.epoch}-${this.seq}`;
  }

  /** Is `cursor` well formed (it comes from the client)? */
  static validCursor(cursor: string): boolean {
    return CURSOR.test(cursor);
  }

  /**
   * The kept events after `cursor`, or `resync` when some of them are gone (a cursor of another
   * hub start, or older than what is kept). The caller filters them as it filters live events.
   */
  since(cursor: string): Replay {
    const m = CURSOR.exec(cursor);
    if (!m || m[1] !== this.epoch) return { resync: true };
    const after = Number(m[2]);
    if (after > this.seq || after < this.lost) return { resync: true };
    return { events: this.recent.filter((r) => r.seq > after).map((r) => ({ id: `${this.epoch}-${r.seq}`, e: r.e })) };
  }

  emit(e: PortalEvent): void {
    const seq = ++this.seq;
    const id = `${this.epoch}-${seq}`;
    // Ticks (time used while running) are superseded by the next one: not worth replaying.
    if (e.what !== 'tick') {
      const at = Date.now();
      this.recent.push({ seq, at, e });
      let drop = 0;
      while (drop < this.recent.length && (this.recent.length - drop > KEEP_EVENTS || at - this.recent[drop]!.at > KEEP_MS)) drop++;
      if (drop) {
        this.lost = this.recent[drop - 1]!.seq;
        this.recent.splice(0, drop);
      }
    }
    for (const key of [e.user, '*']) {
      for (const l of this.listeners.get(key) ?? []) {
        try {
          l(e, id);
        } catch {
          // One broken connection must not stop the others hearing the event.
        }
      }
    }
  }

  close(): void {
    this.stopSessions();
    this.listeners.clear();
    this.recent = [];
  }

  private watchSessions(): void {
    if (this.sessionTimer || !this.spawns) return;
    this.phases = this.snapshot();
    this.sessionTimer = setInterval(() => {
      this.diffSessions();
      if (this.listeners.size === 0 && Date.now() > this.lingerUntil) this.stopSessions();
    }, 1000);
    this.sessionTimer.unref();
  }

  private stopSessions(): void {
    if (this.sessionTimer) clearInterval(this.sessionTimer);
    this.sessionTimer = null;
  }

  private snapshot(): Map<string, { user: string; server: string; phase: string; url: string }> {
    const m = new Map<string, { user: string; server: string; phase: string; url: string }>();
    for (const a of this.spawns!.active.values()) m.set(a.key, { user: a.userName, server: a.serverName, phase: a.phase, url: a.prefix });
    return m;
  }

  private diffSessions(): void {
    const next = this.snapshot();
    const label = (s: { server: string }) => (s.server ? `Session "${s.server}"` : 'Your session');
    for (const [key, s] of next) {
      const before = this.phases.get(key)?.phase;
      if (s.phase === 'running' && before !== 'running') {
        this.emit({ type: 'session', what: 'started', user: s.user, message: `${label(s)} is ready`, data: { server: s.server, url: s.url } });
      }
    }
    for (const [key, s] of this.phases) {
      if (next.has(key)) continue;
      const failure = s.phase === 'spawn' ? this.spawns!.failures.get(key) : undefined;
      if (failure) this.emit({ type: 'session', what: 'failed', user: s.user, message: `${label(s)} failed to start: ${spawnFailureText(failure)}`, data: { server: s.server } });
      else this.emit({ type: 'session', what: 'finished', user: s.user, message: `${label(s)} has stopped`, data: { server: s.server } });
    }
    this.phases = next;
  }
}
