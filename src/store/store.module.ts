import { Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { FLAG_STORE, type FlagStore, type StoreOptions } from './flag-store.js';
import { MemoryFlagStore } from './memory/memory-flag-store.js';
import { SqliteFlagStore } from './sqlite/sqlite-flag-store.js';
import { RedisFlagStore } from './redis/redis-flag-store.js';

export function createFlagStore(options: StoreOptions): Promise<FlagStore> {
  switch (options.type) {
    case 'memory':
      return Promise.resolve(new MemoryFlagStore());
    case 'sqlite':
      return SqliteFlagStore.open(options);
    case 'redis':
      return RedisFlagStore.connect(options);
  }
}

@Module({})
export class StoreModule implements OnApplicationShutdown {
  constructor(@Inject(FLAG_STORE) private readonly store: FlagStore) {}

  static forRoot(options: StoreOptions): DynamicModule {
    return {
      module: StoreModule,
      global: true,
      providers: [{ provide: FLAG_STORE, useFactory: () => createFlagStore(options) }],
      exports: [FLAG_STORE],
    };
  }

  onApplicationShutdown(): Promise<void> {
    return this.store.close();
  }
}
