import { ScheduleModule } from '@nestjs/schedule';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import type { AgentConfig } from './config/agent-config.js';
import { AgentConfigModule } from './config/agent-config.module.js';
import { StoreModule } from './store/store.module.js';
import { StreamingModule } from './streaming/streaming.module.js';
import { StatusModule } from './status/status.module.js';
import { AdminModule } from './admin/admin.module.js';
import { SdkModule } from './sdk/sdk.module.js';
import { InsightsModule } from './insights/insights.module.js';
import { FileDataModule } from './sync/file-data.loader.js';
import { UpstreamSyncModule } from './sync/upstream-sync.module.js';
import type { UpstreamTimings } from './sync/upstream-sync.service.js';
import type { ForwarderTimings } from './insights/insight-forwarder.js';
import { ProblemFilter } from './common/problem.filter.js';
import { ClientModule } from './client/client.module.js';
import { OfrepModule } from './ofrep/ofrep.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { ClientEvaluationService } from './client/client-evaluation.service.js';
import { CLIENT_SYNC } from './streaming/client-sync.js';

export interface AppModuleOptions {
  /** Shorter upstream timings, for tests. */
  upstreamTimings?: Partial<UpstreamTimings>;
  /** Shorter insight forwarding timings, for tests. */
  insightTimings?: Partial<ForwarderTimings>;
}

@Module({})
export class AppModule {
  /** Composition only: picks modules for the mode and the store. */
  static forRoot(config: AgentConfig, options: AppModuleOptions = {}): DynamicModule {
    const byMode =
      config.mode === 'offline' ? [FileDataModule.forRoot()] : [UpstreamSyncModule.forRoot(options.upstreamTimings)];
    return {
      module: AppModule,
      imports: [
        AgentConfigModule.forRoot(config),
        // Periodic jobs (insight retention) run on @nestjs/schedule; its jobs stop with the app.
        ScheduleModule.forRoot(),
        StoreModule.forRoot(config.store),
        StatusModule.forRoot(config.statusPage),
        ClientModule,
        StreamingModule.forRoot({ provide: CLIENT_SYNC, useExisting: ClientEvaluationService }),
        SdkModule,
        OfrepModule,
        MetricsModule,
        AdminModule,
        InsightsModule.forRoot(options.insightTimings),
        ...byMode,
      ],
      providers: [{ provide: APP_FILTER, useClass: ProblemFilter }],
    };
  }
}
