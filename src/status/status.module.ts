import { Global, Module, type DynamicModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';
import { SyncStatusService } from './sync-status.service.js';
import { AgentStatusService } from './agent-status.service.js';
import { DrainService } from './drain.service.js';
import { StatusPageController } from './status-page.controller.js';

@Global()
@Module({})
export class StatusModule {
  /** `statusPage`: serve the operator page at `/` (STATUS_PAGE). */
  static forRoot(statusPage: boolean): DynamicModule {
    return {
      module: StatusModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: statusPage ? [HealthController, StatusPageController] : [HealthController],
      providers: [SyncStatusService, AgentStatusService, DrainService],
      exports: [SyncStatusService, AgentStatusService, DrainService],
    };
  }
}
