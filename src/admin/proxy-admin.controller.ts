import { Body, Controller, Get, HttpCode, Inject, Logger, Post, UseGuards } from '@nestjs/common';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { DataValidationError, parseBootstrap, toBootstrapBody } from '../store/data-set.js';
import { InvalidBootstrapError } from '../common/agent.errors.js';
import { SyncStatusService } from '../status/sync-status.service.js';
import { AgentStatusService, type AgentStatus } from '../status/agent-status.service.js';
import { AdminKeyGuard } from './admin-key.guard.js';

/** The relay proxy admin API (protocol §4), also under `/api/proxy` as the C# agent's docs show it. */
@Controller(['api/public/proxy', 'api/proxy'])
@UseGuards(AdminKeyGuard)
export class ProxyAdminController {
  private readonly logger = new Logger(ProxyAdminController.name);

  constructor(
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    private readonly sync: SyncStatusService,
    private readonly agentStatus: AgentStatusService,
  ) {}

  @Get('status')
  status(): Promise<AgentStatus> {
    return this.agentStatus.status();
  }

  /** Replaces all data atomically; a body that fails validation changes nothing (400). */
  @Post('bootstrap')
  @HttpCode(200)
  async bootstrap(@Body() body: unknown): Promise<{ serves: string; dataVersion: number }> {
    let parsed;
    try {
      parsed = parseBootstrap(body);
    } catch (error) {
      if (error instanceof DataValidationError) throw new InvalidBootstrapError(`invalid bootstrap body: ${error.message}`);
      throw error;
    }
    await this.store.replaceAll(parsed, { pushAll: true, fenced: false });
    this.sync.dataReceived();
    const data = this.store.data;
    this.logger.log({
      msg: 'bootstrap stored',
      envs: parsed.envs.length,
      flags: parsed.envs.reduce((n, e) => n + e.flags.length, 0),
      dataVersion: data.dataVersion,
    });
    return { serves: data.serves(), dataVersion: data.dataVersion };
  }

  @Get('backup')
  backup(): Record<string, unknown> {
    return toBootstrapBody(this.store.data.snapshot());
  }
}
