import { Module, type DynamicModule } from '@nestjs/common';
import { DEFAULT_TIMINGS, UPSTREAM_TIMINGS, UpstreamSyncService, type UpstreamTimings } from './upstream-sync.service.js';

@Module({})
export class UpstreamSyncModule {
  static forRoot(timings: Partial<UpstreamTimings> = {}): DynamicModule {
    return {
      module: UpstreamSyncModule,
      providers: [UpstreamSyncService, { provide: UPSTREAM_TIMINGS, useValue: { ...DEFAULT_TIMINGS, ...timings } }],
      exports: [UpstreamSyncService],
    };
  }
}
