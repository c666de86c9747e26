/**
 * Progress events of one spawn. The hub may open progress() before, during or after start(), and a
 * page reload opens it again, so every reader gets the whole history and then live events until the
 * spawn is over.
 */
import type { ProgressEvent } from '../spawner.js';

export class ProgressChannel {
  private readonly events: ProgressEvent[] = [];
  private closed = false;
  private wake: Array<() => void> = [];

  push(ev: ProgressEvent): void {
    if (this.closed) return;
    this.events.push(ev);
    this.notify();
  }

  close(): void {
    this.closed = true;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = [];
    for (const f of w) f();
  }

  async *read(): AsyncGenerator<ProgressEvent> {
    let i = 0;
    for (;;) {
      while (i < this.events.length) yield this.events[i++]!;
      if (this.closed) return;
      await new Promise<void>((resolve) => this.wake.push(resolve));
    }
  }
}
