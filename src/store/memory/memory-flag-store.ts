import { Logger } from '@nestjs/common';
import type { DataSet, StoreItem } from '../data-set.js';
import type { FlagStore } from '../flag-store.js';
import { SOLE_LEADER } from '../leadership.js';
import { ChangeListeners } from '../change-listeners.js';
import { MemoryData, type DataChange } from '../memory-data.js';

/** Keeps data in this process only: empty after a restart until the next bootstrap or sync. */
export class MemoryFlagStore implements FlagStore {
  readonly data = new MemoryData();
  readonly leadership = SOLE_LEADER;
  private readonly logger = new Logger(MemoryFlagStore.name);
  private readonly listeners = new ChangeListeners(this.logger);

  replaceAll(data: DataSet, options: { pushAll: boolean }): Promise<DataChange> {
    const change = this.data.replaceAll(data, options.pushAll);
    this.listeners.emit(change);
    return Promise.resolve(change);
  }

  applyPatch(items: StoreItem[]): Promise<DataChange> {
    const change = this.data.applyPatch(items);
    this.listeners.emit(change);
    return Promise.resolve(change);
  }

  onChange(listener: (change: DataChange) => void): () => void {
    return this.listeners.add(listener);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
