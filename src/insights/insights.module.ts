import { Module, type DynamicModule } from '@nestjs/common';
import { join } from 'node:path';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { SqliteFlagStore } from '../store/sqlite/sqlite-flag-store.js';
import { RedisFlagStore } from '../store/redis/redis-flag-store.js';
import { InsightsController } from './insights.controller.js';
import { InsightsExportController } from './insights-export.controller.js';
import { DEFAULT_MAX_QUEUE_BYTES, InsightsService } from './insights.service.js';
import { INSIGHT_QUEUE, type InsightQueue } from './insight-queue.js';
import { MemoryInsightQueue } from './memory-insight-queue.js';
import { SqliteInsightQueue } from './sqlite-insight-queue.js';
import { RedisInsightQueue } from './redis-insight-queue.js';
import { DEFAULT_FORWARDER_TIMINGS, InsightForwarder, type ForwarderTimings } from './insight-forwarder.js';
import { LOCAL_INSIGHTS } from './insights.tokens.js';
import { DEFAULT_LOCAL_MAX_BYTES, FileLocalInsights, SqliteLocalInsights, type LocalInsightStore } from './local-insights.js';

/** The queue follows the store: memory → in process, SQLite → a table, Redis → a shared stream. */
function createQueue(store: FlagStore, config: AgentConfig): InsightQueue {
  const bounds = { maxEntries: config.insights.maxQueue, maxBytes: config.insights.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES };
  if (store instanceof SqliteFlagStore) return new SqliteInsightQueue(store.dataSource, bounds);
  if (store instanceof RedisFlagStore) return new RedisInsightQueue(store.client, `${store.prefix}insights`, store.podId, bounds);
  return new MemoryInsightQueue(bounds);
}

function createLocal(store: FlagStore, config: AgentConfig): LocalInsightStore {
  const maxBytes = config.insights.localMaxBytes ?? DEFAULT_LOCAL_MAX_BYTES;
  if (store instanceof SqliteFlagStore) return new SqliteLocalInsights(store.dataSource, maxBytes);
  return new FileLocalInsights(join(config.insights.dir), maxBytes);
}

@Module({})
export class InsightsModule {
  static forRoot(timings: Partial<ForwarderTimings> = {}): DynamicModule {
    return {
      module: InsightsModule,
      global: true,
      controllers: [InsightsController, InsightsExportController],
      providers: [
        InsightsService,
        { provide: INSIGHT_QUEUE, inject: [FLAG_STORE, AGENT_CONFIG], useFactory: createQueue },
        { provide: LOCAL_INSIGHTS, inject: [FLAG_STORE, AGENT_CONFIG], useFactory: createLocal },
        {
          provide: InsightForwarder,
          inject: [INSIGHT_QUEUE, AGENT_CONFIG, FLAG_STORE],
          useFactory: (queue: InsightQueue, config: AgentConfig, store: FlagStore) => {
            const forwarding = config.insights.mode === 'forward' || config.insights.mode === 'anonymize';
            // Once data is held, a secret it lacks (revoked, or forged before the first data) cannot be delivered.
            const isHeld = (secret: string): boolean | undefined => (store.data.isPopulated ? store.data.secret(secret) !== undefined : undefined);
            return forwarding && config.eventUri ? new InsightForwarder(queue, config.eventUri, { ...DEFAULT_FORWARDER_TIMINGS, ...timings }, isHeld) : null;
          },
        },
      ],
      exports: [InsightsService],
    };
  }
}
