import { errorDetail } from '../common/error-detail.js';
import { OldestFirst } from '../common/oldest-first.js';
import { Cron, CronExpression } from '@nestjs/schedule';
import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { parseEnvSecret } from '../credentials/env-secret.js';
import { InvalidRequestError, UnauthorizedError } from '../common/agent.errors.js';
import { SyncStatusService } from '../status/sync-status.service.js';
import { ClientEvaluationService } from '../client/client-evaluation.service.js';
import type { EndUser } from '../evaluation/end-user.js';
import { anonymizeInsight, type AnonymizeOptions } from './anonymizer.js';
import { INSIGHT_QUEUE, ThrottledLog, type InsightQueue, type QueuedInsight } from './insight-queue.js';
import { InsightForwarder } from './insight-forwarder.js';
import { MemoryInsightQueue } from './memory-insight-queue.js';
import { LOCAL_INSIGHTS } from './insights.tokens.js';
import type { LocalInsightStore } from './local-insights.js';

/** How long an end user learned from a client data-sync is not reported again (the ELS dedupes 3 min). */
const END_USER_QUIET_MS = 3 * 60_000;
/** Byte bound of the end-user dedup map (an LRU): keys are counted at 2 bytes a character plus an entry's overhead. */
export const END_USER_DEDUP_BYTES = 8 * 1024 * 1024;
const DEDUP_ENTRY_OVERHEAD = 64;
/** Defaults of the byte bounds when a (test) config leaves them out; the settings give the same. */
export const DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024;

/**
 * An insight's JSON. JSON.parse takes any nesting a body allows, JSON.stringify recurses and runs
 * out of stack (a RangeError) at some thousands of levels: that is the client's fault, a 400.
 */
function serialise(insight: Record<string, unknown>): string {
  try {
    return JSON.stringify(insight);
  } catch (error) {
    if (error instanceof RangeError) throw new InvalidRequestError('an insight event is nested too deeply');
    throw error;
  }
}

/**
 * SDK insights (protocol §3.4), by INSIGHTS_MODE: `forward` queues them for FeatBit, `anonymize`
 * pseudonymises them first (nothing raw is queued or sent), `local` keeps them here for the
 * retention period, `off` accepts and discards. Intake never waits for FeatBit.
 */
@Injectable()
export class InsightsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(InsightsService.name);
  private readonly anonymize?: AnonymizeOptions;
  /** End users reported lately, least recently seen first (Map keeps insertion order). */
  private readonly recentUsers = new Map<string, number>();
  private recentUsersBytes = 0;
  private readonly evictOldest = new OldestFirst(this.recentUsers);
  private readonly oversizeLog = new ThrottledLog(this.logger, 'end-user insight larger than INSIGHTS_MAX_EVENT_BYTES; not reported');
  private readonly maxEventBytes: number;
  accepted = 0;
  discarded = 0;
  /** Requests refused: secret not held (401) or an event too large (400). */
  refused = { unknownSecret: 0, tooLarge: 0 };

  constructor(
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    @Inject(INSIGHT_QUEUE) readonly queue: InsightQueue,
    @Inject(LOCAL_INSIGHTS) readonly local: LocalInsightStore,
    @Optional() @Inject(InsightForwarder) readonly forwarder: InsightForwarder | null,
    clients: ClientEvaluationService,
    @Optional() private readonly sync?: SyncStatusService,
  ) {
    const options = config.insights;
    this.maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    if (forwarder && sync) {
      sync.insights = { state: 'Healthy' };
      forwarder.onHealth((health) => {
        sync.insights = health.state === 'Healthy' ? { state: 'Healthy' } : { state: 'Unhealthy', reason: health.reason, since: health.since };
      });
    }
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
    if (this.mode === 'local') void this.purgeExpired();
  }

  /** Local mode's retention, on @nestjs/schedule: expired insights are purged every hour. */
  @Cron(CronExpression.EVERY_HOUR, { name: 'insight-retention' })
  async purgeOnSchedule(): Promise<void> {
    if (this.mode === 'local') await this.purgeExpired();
  }

  private stopped?: Promise<void>;

  /**
   * Shutdown: deliver (in-process queue) or persist (SQLite, Redis) the backlog before the store
   * closes, within the drain bound. The drain closes SDK sockets for at most min(5 s, half the
   * bound) before it comes here, so by default the rest of the bound less a second is used.
   * Idempotent.
   */
  shutdown(deadline?: number): Promise<void> {
    this.stopped ??= (async () => {
      const budgetMs = this.config.shutdownTimeoutSeconds * 1000;
      const until = deadline ?? Date.now() + Math.max(500, budgetMs - Math.min(5000, budgetMs / 2) - 1000);
      await this.forwarder?.stop(until);
      await this.queue.close();
      if (this.queue instanceof MemoryInsightQueue && this.forwarder) {
        const lost = this.queue.abandon();
        this.forwarder.stats.lostOnShutdown += lost;
        if (lost > 0) this.logger.error({ msg: 'insights not delivered before the drain bound; lost (the memory queue does not persist)', count: lost });
      }
    })();
    return this.stopped;
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.shutdown();
  }

  /**
   * `POST /api/public/insight/track`: `body` must be an array of insight objects. Once the agent
   * holds data, only its secrets are accepted (401 otherwise); before the first data any
   * well-formed secret is. An event larger than INSIGHTS_MAX_EVENT_BYTES, or nested too deeply to
   * serialise, refuses the request (400) and nothing of it is kept.
   */
  track(secret: string | undefined, body: unknown): void {
    if (!secret || !parseEnvSecret(secret)) throw new UnauthorizedError('missing or malformed environment secret');
    const data = this.store.data;
    if (data.isPopulated && !data.secret(secret)) {
      this.refused.unknownSecret++;
      throw new UnauthorizedError('unknown environment secret');
    }
    if (!Array.isArray(body) || body.some((e) => typeof e !== 'object' || e === null || Array.isArray(e))) {
      throw new InvalidRequestError('body must be a JSON array of insight objects');
    }
    const bodies = (body as Record<string, unknown>[]).map(serialise);
    if (bodies.some((b) => b.length > this.maxEventBytes || Buffer.byteLength(b) > this.maxEventBytes)) {
      this.refused.tooLarge++;
      throw new InvalidRequestError(`an insight event is larger than ${this.maxEventBytes} bytes (INSIGHTS_MAX_EVENT_BYTES)`);
    }
    this.accept(secret, body as Record<string, unknown>[], bodies);
  }

  /** Accepts a validated array of insights sent with `secret` (and their JSON, if at hand). Returns at once. */
  accept(secret: string, insights: Record<string, unknown>[], bodies?: string[]): void {
    this.accepted += insights.length;
    switch (this.mode) {
      case 'off':
        this.discarded += insights.length;
        return;
      case 'local': {
        const envId = parseEnvSecret(secret)?.envId ?? '';
        void this.local.store(envId, insights, new Date()).catch((error: unknown) => {
          this.logger.error({ msg: 'insights could not be kept locally', ...errorDetail(error) });
        });
        return;
      }
      case 'forward':
      case 'anonymize': {
        const anonymize = this.anonymize;
        const entries: QueuedInsight[] = insights.map((insight, i) => ({
          secret,
          body: anonymize ? JSON.stringify(anonymizeInsight(insight, anonymize)) : (bodies?.[i] ?? JSON.stringify(insight)),
        }));
        this.queue.push(entries);
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
    this.remember(key, now);
    // The ELS derives the environment from the Authorization secret: any secret of the env serves.
    const secret = this.store.data.env(envId)?.secrets[0]?.value;
    if (!secret) return;
    const insight = { user: { keyId: user.keyId, name: user.name, customizedProperties: user.customizedProperties }, variations: [], metrics: [] };
    const body = JSON.stringify(insight);
    if (Buffer.byteLength(body) > this.maxEventBytes) {
      this.oversizeLog.add(1, { maxEventBytes: this.maxEventBytes });
      return;
    }
    this.accept(secret, [insight], [body]);
  }

  /**
   * Records `key` as most recently seen; evicts the least recently seen past the byte bound. One
   * live iterator walks the map from its oldest entry across calls (it skips deleted entries and
   * sees re-inserted ones at the end): V8 leaves a hole for every deletion until the table is
   * rehashed, and a new iterator per call walked every hole at the front of the map each time,
   * about 45 µs a user with 50,000 held (a flood of new users from one client secret).
   */
  private remember(key: string, at: number): void {
    const cost = (k: string): number => k.length * 2 + DEDUP_ENTRY_OVERHEAD;
    if (this.recentUsers.delete(key)) this.recentUsersBytes -= cost(key);
    this.recentUsers.set(key, at);
    this.recentUsersBytes += cost(key);
    while (this.recentUsersBytes > END_USER_DEDUP_BYTES) {
      const oldest = this.evictOldest.evict();
      if (oldest === undefined) break;
      this.recentUsersBytes -= cost(oldest);
    }
  }

  /** Bytes the end-user dedup map is counted at (bounded by END_USER_DEDUP_BYTES). */
  get dedupBytes(): number {
    return this.recentUsersBytes;
  }

  async purgeExpired(now = new Date()): Promise<number> {
    const before = new Date(now.getTime() - this.config.insights.retentionDays * 86_400_000);
    const removed = await this.local.purge(before).catch((error: unknown) => {
      this.logger.error({ msg: 'expired insights could not be purged', ...errorDetail(error) });
      return 0;
    });
    if (removed > 0) this.logger.log({ msg: 'expired insights purged', removed, before: before.toISOString() });
    return removed;
  }
}
