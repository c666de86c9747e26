/**
 * The progress events of one spawn, for `Spawner.progress()`. The hub may open progress() before,
 * during or after start(), and a page reload opens it again, so every reader gets the whole
 * history and then live events until the spawn is over (end()). One class for every kind.
 */
import type { ProgressEvent } from './spawner.js';

export class ProgressLog {
  private readonly events: ProgressEvent[] = [];
  private done = false;
  private wakers: (() => void)[] = [];

  /** A log that is already over (progress() of a spawner that never started). */
  static ended(): ProgressLog {
    const log = new ProgressLog();
    log.end();
    return log;
  }

  push(e: ProgressEvent): void {
    if (this.done) return;
    this.events.push(e);
    this.wake();
  }

  end(): void {
    this.done = true;
    this.wake();
  }

  get ended(): boolean {
    return this.done;
  }

  async *read(): AsyncGenerator<ProgressEvent> {
    let i = 0;
    for (;;) {
      while (i < this.events.length) yield this.events[i++]!;
      if (this.done) return;
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
  }

  private wake(): void {
    for (const w of this.wakers.splice(0)) w();
  }
}
