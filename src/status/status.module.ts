import { Global, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';
import { SyncStatusService } from './sync-status.service.js';
import { AgentStatusService } from './agent-status.service.js';
import { DrainService } from './drain.service.js';

@Global()
@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [SyncStatusService, AgentStatusService, DrainService],
  exports: [SyncStatusService, AgentStatusService, DrainService],
})
export class StatusModule {}
