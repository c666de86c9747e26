/**
 * One server the hub is currently responsible for (spawning, running or stopping), with its
 * progress events buffered so a spawn-pending page opened late still sees the whole story.
 */
import type { ProgressEvent, Spawner } from '../../spawners/spawner.js';
import type { QueuePosition } from './start-queue.js';

export type Phase = 'spawn' | 'running' | 'stop';

export interface HubProgressEvent extends ProgressEvent {
  ready?: boolean;
  failed?: boolean;
  url?: string;
  /** Set while the start waits in the start queue (start-queue.ts). */
  queue?: QueuePosition;
  /** When the hub recorded the event (ISO 8601, UTC); the pending page's event log shows it. */
  time?: string;
}

export class ActiveServer {
  phase: Phase = 'spawn';
  readonly events: HubProgressEvent[] = [];
  private readonly listeners = new Set<(e: HubProgressEvent | null) => void>();
  /** Settles when the current spawn or stop is over (never rejects). */
  done: Promise<void> = Promise.resolve();
  readonly abort = new AbortController();
  url: string | null = null;
  /** The spawn attempt whose backend object this is (servers.spawn_attempt). */
  attempt: string | null = null;
  pollTimer: NodeJS.Timeout | null = null;
  /** Place in the start queue while waiting for a slot, else null. */
  queue: QueuePosition | null = null;
  /**
   * The env and user options the server was started with (after pre-spawn hooks), kept for the
   * post-stop hooks. null for a server restored after a hub restart: they are not persisted.
   */
  spawnEnv: Record<string, string> | null = null;
  spawnOptions: Record<string, unknown> | null = null;

  constructor(
    readonly userId: number,
    readonly userName: string,
    readonly serverName: string,
    readonly serverId: number,
    readonly prefix: string,
    public spawner: Spawner | null,
  ) {}

  get key(): string {
    return `${this.userName}/${this.serverName}`;
  }

  emit(e: HubProgressEvent): void {
    const event: HubProgressEvent = { ...e, progress: Math.max(0, Math.min(100, Math.round(e.progress))), time: e.time ?? new Date().toISOString() };
    this.events.push(event);
    if (this.events.length > 200) this.events.splice(1, this.events.length - 200);
    for (const l of this.listeners) l(event);
  }

  /** Listen for new events; `null` means the spawn is over. Returns the unsubscribe function. */
  subscribe(fn: (e: HubProgressEvent | null) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  finishEvents(): void {
    for (const l of this.listeners) l(null);
    this.listeners.clear();
  }
}
