import { Module, type DynamicModule } from '@nestjs/common';
import { join } from 'node:path';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { SqliteFlagStore } from '../store/sqlite/sqlite-flag-store.js';
import { RedisFlagStore } from '../store/redis/redis-flag-store.js';
import { InsightsController } from './insights.controller.js';
import { InsightsExportController } from './insights-export.controller.js';
import { InsightsService } from './insights.service.js';
import { INSIGHT_QUEUE, type InsightQueue } from './insight-queue.js';
import { MemoryInsightQueue } from './memory-insight-queue.js';
import { SqliteInsightQueue } from './sqlite-insight-queue.js';
import { RedisInsightQueue } from './redis-insight-queue.js';
import { DEFAULT_FORWARDER_TIMINGS, InsightForwarder, type ForwarderTimings } from './insight-forwarder.js';
import { LOCAL_INSIGHTS } from './insights.tokens.js';
import { FileLocalInsights, SqliteLocalInsights, type LocalInsightStore } from './local-insights.js';

/** The queue follows the store: memory → in process, SQLite → a table, Redis → a shared stream. */
function createQueue(store: FlagStore, config: AgentConfig): InsightQueue {
  const max = config.insights.maxQueue;
  if (store instanceof SqliteFlagStore) return new SqliteInsightQueue(store.dataSource, max);
  if (store instanceof RedisFlagStore) return new RedisInsightQueue(store.client, `${store.prefix}insights`, store.podId, max);
  return new MemoryInsightQueue(max);
}

function createLocal(store: FlagStore, config: AgentConfig): LocalInsightStore {
  if (store instanceof SqliteFlagStore) return new SqliteLocalInsights(store.dataSource);
  return new FileLocalInsights(join(config.insights.dir));
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
          inject: [INSIGHT_QUEUE, AGENT_CONFIG],
          useFactory: (queue: InsightQueue, config: AgentConfig) => {
            const forwarding = config.insights.mode === 'forward' || config.insights.mode === 'anonymize';
            return forwarding && config.eventUri ? new InsightForwarder(queue, config.eventUri, { ...DEFAULT_FORWARDER_TIMINGS, ...timings }) : null;
          },
        },
      ],
      exports: [InsightsService],
    };
  }
}
