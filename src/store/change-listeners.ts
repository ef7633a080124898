import { Logger } from '@nestjs/common';
import type { DataChange } from './memory-data.js';

/** Listener list shared by the store providers; one failing listener never stops the others. */
export class ChangeListeners {
  private readonly listeners = new Set<(change: DataChange) => void>();

  constructor(private readonly logger: Logger) {}

  add(listener: (change: DataChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: DataChange): void {
    if (change.envs.length === 0) return;
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.logger.error({ msg: 'data change listener failed', err: error });
      }
    }
  }
}
