/**
 * What the portal's pages hear about: job changes (from the tracker, i.e. from the one squeue
 * per cycle) and sessions that start, stop or fail. One event source per open page subscribes
 * here; nothing polls Slurm per browser.
 *
 * Sessions are watched by diffing the spawn manager's in-memory table once a second while
 * anybody listens: cheap (no backend call), and it needs no hook inside the spawn lifecycle.
 */
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

type Listener = (e: PortalEvent) => void;

export class PortalEvents {
  /** user name → listeners; '*' hears everyone (admins). */
  private readonly listeners = new Map<string, Set<Listener>>();
  private sessionTimer: NodeJS.Timeout | null = null;
  private phases = new Map<string, { user: string; server: string; phase: string; url: string }>();

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
      if (this.listeners.size === 0) this.stopSessions();
    };
  }

  emit(e: PortalEvent): void {
    for (const key of [e.user, '*']) {
      for (const l of this.listeners.get(key) ?? []) {
        try {
          l(e);
        } catch {
          // One broken connection must not stop the others hearing the event.
        }
      }
    }
  }

  close(): void {
    this.stopSessions();
    this.listeners.clear();
  }

  private watchSessions(): void {
    if (this.sessionTimer || !this.spawns) return;
    this.phases = this.snapshot();
    this.sessionTimer = setInterval(() => this.diffSessions(), 1000);
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
