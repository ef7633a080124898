import { Inject, Injectable, Logger } from '@nestjs/common';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';

/**
 * Receives SDK insights. This version counts and discards them (INSIGHTS_MODE=off behaviour);
 * forwarding, anonymisation and local retention plug in here.
 */
@Injectable()
export class InsightsService {
  private readonly logger = new Logger(InsightsService.name);
  accepted = 0;

  constructor(@Inject(AGENT_CONFIG) private readonly config: AgentConfig) {
    if (config.insightsMode !== 'off') {
      this.logger.warn({ msg: 'insight forwarding is not available in this version; events are discarded', mode: config.insightsMode });
    }
  }

  accept(_secret: string, events: Record<string, unknown>[]): void {
    this.accepted += events.length;
  }
}
