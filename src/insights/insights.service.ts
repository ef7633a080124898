import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { parseEnvSecret } from '../credentials/env-secret.js';
import { ClientEvaluationService } from '../client/client-evaluation.service.js';
import type { EndUser } from '../evaluation/end-user.js';
import { anonymizeInsight, type AnonymizeOptions } from './anonymizer.js';
import { INSIGHT_QUEUE, type InsightQueue } from './insight-queue.js';
import { InsightForwarder } from './insight-forwarder.js';
import { LOCAL_INSIGHTS } from './insights.tokens.js';
import type { LocalInsightStore } from './local-insights.js';

/** How long an end user learned from a client data-sync is not reported again (the ELS dedupes 3 min). */
const END_USER_QUIET_MS = 3 * 60_000;

/**
 * SDK insights (protocol §3.4), by INSIGHTS_MODE: `forward` queues them for FeatBit, `anonymize`
 * pseudonymises them first (nothing raw is queued or sent), `local` keeps them here for the
 * retention period, `off` accepts and discards. Intake never waits for FeatBit.
 */
@Injectable()
export class InsightsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(InsightsService.name);
  private readonly anonymize?: AnonymizeOptions;
  private readonly recentUsers = new Map<string, number>();
  private retention?: NodeJS.Timeout;
  accepted = 0;
  discarded = 0;

  constructor(
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    @Inject(INSIGHT_QUEUE) readonly queue: InsightQueue,
    @Inject(LOCAL_INSIGHTS) readonly local: LocalInsightStore,
    @Optional() @Inject(InsightForwarder) readonly forwarder: InsightForwarder | null,
    clients: ClientEvaluationService,
  ) {
    const options = config.insights;
    if (options.mode === 'anonymize') {
      this.anonymize = { hashKey: options.hashKey ?? '', keepProperties: new Set(options.keepProperties) };
    }
    clients.onEndUser((envId, user) => this.endUser(envId, user));
  }

  get mode(): AgentConfig['insights']['mode'] {
    return this.config.insights.mode;
  }

  onApplicationBootstrap(): void {
    this.forwarder?.start();
    if (this.mode === 'local') {
      const purge = (): void => void this.purgeExpired();
      purge();
      this.retention = setInterval(purge, 60 * 60_000);
      this.retention.unref();
    }
  }

  private stopped?: Promise<void>;

  /** Shutdown: stop forwarding and persist what is buffered, before the store closes. Idempotent. */
  shutdown(): Promise<void> {
    this.stopped ??= (async () => {
      clearInterval(this.retention);
      await this.forwarder?.stop();
      await this.queue.close();
    })();
    return this.stopped;
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.shutdown();
  }

  /** Accepts a validated array of insights sent with `secret`. Returns at once. */
  accept(secret: string, insights: Record<string, unknown>[]): void {
    this.accepted += insights.length;
    switch (this.mode) {
      case 'off':
        this.discarded += insights.length;
        return;
      case 'local': {
        const envId = parseEnvSecret(secret)?.envId ?? '';
        void this.local.store(envId, insights, new Date()).catch((error: unknown) => {
          this.logger.error({ msg: 'insights could not be kept locally', err: String(error) });
        });
        return;
      }
      case 'forward':
      case 'anonymize': {
        const anonymize = this.anonymize;
        this.queue.push(insights.map((insight) => ({ secret, insight: anonymize ? anonymizeInsight(insight, anonymize) : insight })));
        this.forwarder?.nudge();
        return;
      }
    }
  }

  /** End users presented by client SDKs over WebSocket become user-only insights (§3.4). */
  private endUser(envId: string, user: EndUser): void {
    if (this.mode === 'off') return;
    const key = `${envId}\u0000${user.keyId}`;
    const now = Date.now();
    const last = this.recentUsers.get(key);
    if (last !== undefined && now - last < END_USER_QUIET_MS) return;
    this.recentUsers.set(key, now);
    if (this.recentUsers.size > 100_000) {
      for (const [k, at] of this.recentUsers) if (now - at >= END_USER_QUIET_MS) this.recentUsers.delete(k);
    }
    // The ELS derives the environment from the Authorization secret: any secret of the env serves.
    const secret = this.store.data.env(envId)?.secrets[0]?.value;
    if (!secret) return;
    this.accept(secret, [{ user: { keyId: user.keyId, name: user.name, customizedProperties: user.customizedProperties }, variations: [], metrics: [] }]);
  }

  async purgeExpired(now = new Date()): Promise<number> {
    const before = new Date(now.getTime() - this.config.insights.retentionDays * 86_400_000);
    const removed = await this.local.purge(before).catch((error: unknown) => {
      this.logger.error({ msg: 'expired insights could not be purged', err: String(error) });
      return 0;
    });
    if (removed > 0) this.logger.log({ msg: 'expired insights purged', removed, before: before.toISOString() });
    return removed;
  }
}
