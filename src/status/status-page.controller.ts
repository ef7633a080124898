import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { AdminKey } from '../common/admin-key.js';
import { AgentStatusService } from './agent-status.service.js';
import { ConnectionRegistry } from '../streaming/connection-registry.js';
import { InsightsService } from '../insights/insights.service.js';
import { DrainService } from './drain.service.js';
import { STATUS_PAGE_HTML } from './page/status-page.js';

/**
 * The operator status page (`/`, STATUS_PAGE=false turns it off) and the JSON it polls. It is on the
 * public port: states and counts are public; which projects and environments are served (`serves`,
 * project and environment keys) only with the relay proxy key in `Authorization`. Never secrets.
 */
@Controller()
export class StatusPageController {
  private readonly adminKey: AdminKey;

  constructor(
    private readonly status: AgentStatusService,
    private readonly connections: ConnectionRegistry,
    private readonly insights: InsightsService,
    private readonly drain: DrainService,
    @Inject(AGENT_CONFIG) config: AgentConfig,
  ) {
    this.adminKey = new AdminKey(config.apiKey);
  }

  @Get()
  page(@Res() reply: FastifyReply): void {
    void reply.status(200).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-cache').send(STATUS_PAGE_HTML);
  }

  @Get('status.json')
  async json(@Headers('authorization') authorization: string | undefined, @Res({ passthrough: true }) reply: FastifyReply): Promise<Record<string, unknown>> {
    const s = await this.status.status();
    const admin = this.adminKey.matches(authorization);
    // The answer depends on the key: shared caches must not hand the keyed one to others.
    void reply.header('cache-control', 'no-store').header('vary', 'authorization');
    const readiness = this.drain.draining || s.type === 'unhealthy' ? 'Unhealthy' : s.syncState === 'Interrupted' || !s.storeHealthy || s.storeState === 'degraded' ? 'Degraded' : 'Healthy';
    const forwarder = this.insights.forwarder?.stats;
    return {
      mode: this.status.mode,
      store: { type: this.status.storeType, healthy: s.storeHealthy, ...(s.store ?? { state: s.storeState ?? (s.storeHealthy ? 'ok' : 'degraded'), problem: s.storeProblem ?? null }) },
      role: s.role,
      readiness,
      draining: this.drain.draining,
      environments: s.serves === '' ? 0 : s.serves.split(',').length,
      ...(admin ? { serves: s.serves } : {}),
      admin,
      syncState: s.syncState,
      lastSyncedAt: s.lastSyncedAt,
      registration: s.registration,
      upstreamProblem: s.upstreamProblem,
      upstreamItemsSkipped: this.status.upstreamItemsSkipped,
      dataVersion: s.dataVersion,
      dataAgeSeconds: s.dataAgeSeconds,
      connections: this.connections.counts(),
      insights: {
        mode: this.insights.mode,
        queueDepth: await this.insights.queue.depth().catch(() => -1),
        forwarded: forwarder?.forwarded ?? 0,
        dropped: this.insights.queue.dropped + (forwarder?.rejected ?? 0),
        state: s.insights,
      },
    };
  }
}
