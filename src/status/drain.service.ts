import { setTimeout as wait } from 'node:timers/promises';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { ConnectionRegistry } from '../streaming/connection-registry.js';
import { StreamingGateway } from '../streaming/streaming.gateway.js';
import { InsightsService } from '../insights/insights.service.js';

/** SDKs reconnect after any close code but 4003; 1012 says "service restart, come back". */
export const DRAIN_CLOSE_CODE = 1012;

/**
 * Graceful drain on SIGTERM, before the HTTP server and the store close: readiness fails first, new
 * WebSocket upgrades are refused, SDK sockets are closed in batches spread over part of the time
 * allowed (so they move to other pods without a stampede), then insights are flushed or persisted.
 * Bounded by SHUTDOWN_TIMEOUT_SECONDS.
 */
@Injectable()
export class DrainService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(DrainService.name);
  draining = false;

  constructor(
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    private readonly connections: ConnectionRegistry,
    private readonly gateway: StreamingGateway,
    private readonly insights: InsightsService,
  ) {}

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    const budgetMs = this.config.shutdownTimeoutSeconds * 1000;
    const started = Date.now();
    const bound = new AbortController();
    // The bound's timer is cancelled once the drain wins, so it never holds the process open.
    await Promise.race([this.drain(signal, budgetMs), wait(budgetMs, undefined, { signal: bound.signal }).catch(() => undefined)]);
    bound.abort();
    this.logger.log({ msg: 'drain finished', ms: Date.now() - started, socketsLeft: this.connections.size });
  }

  private async drain(signal: string | undefined, budgetMs: number): Promise<void> {
    this.draining = true;
    this.gateway.stopAccepting();
    const sockets = this.connections.all();
    this.logger.log({ msg: 'draining', signal, sockets: sockets.length });
    // Spread the closes over at most half the budget (and at most 5 s), in about 20 batches.
    const batches = Math.max(1, Math.min(20, Math.ceil(sockets.length / 50)));
    const size = Math.ceil(sockets.length / batches);
    const gap = Math.min(5000, budgetMs / 2) / batches;
    for (let i = 0; i < sockets.length; i += size) {
      for (const connection of sockets.slice(i, i + size)) connection.socket.close(DRAIN_CLOSE_CODE, 'service restart, reconnect');
      if (i + size < sockets.length) await wait(gap);
    }
    await this.insights.shutdown();
  }
}
