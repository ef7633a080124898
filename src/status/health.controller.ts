import { All, Controller, Inject, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { SyncStatusService } from './sync-status.service.js';
import { DrainService } from './drain.service.js';

type HealthText = 'Healthy' | 'Degraded' | 'Unhealthy';

/**
 * Kubernetes probes (protocol §5): plain-text `Healthy`, `Degraded` or `Unhealthy`, any method,
 * never cached. Readiness details (sync state, data age) travel in `x-featbit-*` headers.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly sync: SyncStatusService,
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    private readonly drain: DrainService,
  ) {}

  @All('liveness')
  liveness(@Res() reply: FastifyReply): void {
    send(reply, 200, 'Healthy');
  }

  @All('readiness')
  async readiness(@Res() reply: FastifyReply): Promise<void> {
    let result: HealthCheckResult;
    try {
      result = await this.health.check([() => this.dataIndicator(), () => this.storeIndicator(), () => this.syncIndicator()]);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      result = error.getResponse() as HealthCheckResult;
    }
    const age = this.sync.dataAgeSeconds();
    if (age !== null) void reply.header('x-featbit-data-age-seconds', String(age));
    void reply.header('x-featbit-sync-state', this.config.mode === 'agent' ? this.sync.state : 'None');
    // Terminus reports `shutting_down` once shutdown starts: not ready, like draining.
    if (result.status === 'error' || result.status === 'shutting_down' || this.drain.draining) send(reply, 503, 'Unhealthy');
    else send(reply, 200, result.status === 'degraded' ? 'Degraded' : 'Healthy');
  }

  private dataIndicator() {
    const session = this.indicators.check('data');
    // Draining: fail readiness first so load balancers stop sending SDKs here.
    if (this.drain.draining) return session.down('draining');
    return this.store.data.isPopulated ? session.up() : session.down('no data yet');
  }

  private async storeIndicator() {
    const session = this.indicators.check('store');
    try {
      // Readiness answers within a second whatever the backend does (a hung Redis → Degraded).
      await boundedPing(this.store, 900);
      const health = this.store.health?.();
      if (health?.stale) return session.degraded({ message: 'store copy may be stale', state: health.state });
      // The backend answers but refuses writes (disk full, …): memory serves, the backend catches up later.
      const persistence = this.store.persistence;
      if (persistence?.state === 'degraded') return session.degraded({ message: `store writes failing: ${persistence.problem ?? 'unknown'}` });
      return session.up();
    } catch (error) {
      // Serving continues from memory while the backend is away.
      return session.degraded({ message: error instanceof Error ? error.message : String(error) });
    }
  }

  /** Agent mode: data from an interrupted or not yet re-established sync still serves, degraded. */
  private syncIndicator() {
    const session = this.indicators.check('sync');
    if (this.config.mode !== 'agent' || this.sync.state === 'Stable') return session.up();
    return session.degraded({ state: this.sync.state });
  }
}

function send(reply: FastifyReply, status: number, text: HealthText): void {
  void reply
    .status(status)
    .header('cache-control', 'no-store, no-cache')
    .header('content-type', 'text/plain; charset=utf-8')
    .send(text);
}

function boundedPing(store: FlagStore, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`store did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([store.ping(), bound]).finally(() => clearTimeout(timer));
}
