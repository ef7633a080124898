import { Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { FLAG_STORE, type FlagStore, type StoreOptions } from './flag-store.js';
import { MemoryFlagStore } from './memory/memory-flag-store.js';
import { ConfigError } from '../config/config.errors.js';

export function createFlagStore(options: StoreOptions): Promise<FlagStore> {
  switch (options.type) {
    case 'memory':
      return Promise.resolve(new MemoryFlagStore());
    case 'sqlite':
    case 'redis':
      return Promise.reject(new ConfigError([`STORE=${options.type} is not available in this build yet; use STORE=memory`]));
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
