import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AgentStatusService } from './agent-status.service.js';
import { ConnectionRegistry } from '../streaming/connection-registry.js';
import { InsightsService } from '../insights/insights.service.js';
import { DrainService } from './drain.service.js';
import { STATUS_PAGE_HTML } from './page/status-page.js';

/**
 * The operator status page (`/`, STATUS_PAGE=false turns it off) and the JSON it polls. Nothing
 * here is secret: no keys, no secrets, no users.
 */
@Controller()
export class StatusPageController {
  constructor(
    private readonly status: AgentStatusService,
    private readonly connections: ConnectionRegistry,
    private readonly insights: InsightsService,
    private readonly drain: DrainService,
  ) {}

  @Get()
  page(@Res() reply: FastifyReply): void {
    void reply.status(200).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-cache').send(STATUS_PAGE_HTML);
  }

  @Get('status.json')
  async json(): Promise<Record<string, unknown>> {
    const s = await this.status.status();
    const readiness = this.drain.draining || s.type === 'unhealthy' ? 'Unhealthy' : s.syncState === 'Interrupted' || !s.storeHealthy ? 'Degraded' : 'Healthy';
    const forwarder = this.insights.forwarder?.stats;
    return {
      mode: this.status.mode,
      store: { type: this.status.storeType, healthy: s.storeHealthy, ...s.store },
      role: s.role,
      readiness,
      draining: this.drain.draining,
      serves: s.serves,
      syncState: s.syncState,
      lastSyncedAt: s.lastSyncedAt,
      registration: s.registration,
      upstreamProblem: s.upstreamProblem,
      dataVersion: s.dataVersion,
      dataAgeSeconds: s.dataAgeSeconds,
      connections: this.connections.counts(),
      insights: {
        mode: this.insights.mode,
        queueDepth: await this.insights.queue.depth().catch(() => -1),
        forwarded: forwarder?.forwarded ?? 0,
        dropped: this.insights.queue.dropped + (forwarder?.rejected ?? 0),
      },
    };
  }
}
