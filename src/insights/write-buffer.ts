import type { QueuedInsight } from './insight-queue.js';

/**
 * Intake side of the persistent queues: SDK requests append here and return at once; `write`
 * persists the buffered entries shortly after, in one go. Bounded like the queue it feeds.
 */
export class WriteBuffer {
  private entries: QueuedInsight[] = [];
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();
  dropped = 0;

  constructor(
    private readonly max: number,
    private readonly write: (entries: QueuedInsight[]) => Promise<void>,
    private readonly onFailure: (entries: QueuedInsight[], error: unknown) => void,
    private readonly delayMs = 20,
  ) {}

  get length(): number {
    return this.entries.length;
  }

  push(entries: QueuedInsight[]): void {
    this.entries.push(...entries);
    if (this.entries.length > this.max) {
      const over = this.entries.length - this.max;
      this.entries.splice(0, over);
      this.dropped += over;
    }
    this.schedule(this.delayMs);
  }

  /** Puts entries back at the front (a failed write that will be retried). */
  unshift(entries: QueuedInsight[], retryMs: number): void {
    this.entries = [...entries, ...this.entries].slice(-this.max);
    this.schedule(retryMs);
  }

  flush(): Promise<void> {
    const entries = this.entries;
    this.entries = [];
    if (entries.length === 0) return this.writing;
    this.writing = this.writing.then(() => this.write(entries)).catch((error: unknown) => this.onFailure(entries, error));
    return this.writing;
  }

  /** Waits for writes in flight. */
  settled(): Promise<void> {
    return this.writing;
  }

  close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    return this.flush();
  }

  private schedule(ms: number): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
  }
}
