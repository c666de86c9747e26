/**
 * Progress events of one SSH spawn, buffered so a reader that starts late still sees every step;
 * iteration ends when the spawn is over.
 */
import type { ProgressEvent } from '../spawner.js';

export class ProgressQueue {
  private readonly events: ProgressEvent[] = [];
  private done = false;
  private wakers: (() => void)[] = [];

  static ended(): ProgressQueue {
    const q = new ProgressQueue();
    q.end();
    return q;
  }

  push(e: ProgressEvent): void {
    if (this.done) return;
    this.events.push(e);
    for (const w of this.wakers.splice(0)) w();
  }

  end(): void {
    this.done = true;
    for (const w of this.wakers.splice(0)) w();
  }

  async *iterate(): AsyncIterable<ProgressEvent> {
    let i = 0;
    for (;;) {
      while (i < this.events.length) yield this.events[i++]!;
      if (this.done) return;
      await new Promise<void>((r) => this.wakers.push(r));
    }
  }
}
