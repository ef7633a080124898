import 'reflect-metadata';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AgentConfig, AgentModeConfig, OfflineModeConfig } from '../../src/config/agent-config.js';
import { createApp, type CreateAppOptions } from '../../src/app.factory.js';
import { FLAG_STORE, type FlagStore } from '../../src/store/flag-store.js';
import { PushService } from '../../src/streaming/push.service.js';
import { RELAY_PROXY_KEY, SAMPLE_DATA_FILE } from './sample-data.js';

export interface RunningAgent {
  app: NestFastifyApplication;
  port: number;
  httpUrl: string;
  wsUrl: string;
  store: FlagStore;
  /** Resolves once every change stored so far has been pushed to the sockets. */
  pushed(): Promise<void>;
  close(): Promise<void>;
}

/** What every test config shares: port 0, quiet logs, memory store, the sample relay proxy key. */
const COMMON = {
  port: 0,
  host: '127.0.0.1',
  apiKey: RELAY_PROXY_KEY,
  agentId: 'test-agent',
  insightsMode: 'off',
  insights: { mode: 'off', maxQueue: 100_000, keepProperties: [], dir: './insights', retentionDays: 30, maxQueueBytes: 64 * 1024 * 1024, maxEventBytes: 64 * 1024, localMaxBytes: 1024 ** 3 },
  shutdownTimeoutSeconds: 5,
  statusPage: true,
  tokenExpirySeconds: 30,
  store: { type: 'memory' },
  logLevel: 'error',
  upstreamMaxPayloadBytes: 256 * 1024 * 1024,
  streaming: {
    maxBufferedBytes: 8 * 1024 * 1024,
    maxConnections: 20_000,
    messagesPerSecond: 1000,
    messageBurst: 10_000,
    pingIntervalMs: 30_000,
    pingTimeoutMs: 20_000,
    // Generous, so tests of large users exercise evaluation; hostile-ws tests the bounds.
    maxUserBytes: 1024 * 1024,
    maxUserProperties: 10_000,
    upgradesPerSecond: 0,
    upgradeBurst: 200,
    inboundBudgetBytes: 64 * 1024 * 1024,
    outboundBudgetBytes: 128 * 1024 * 1024,
  },
  sdkBodyLimitBytes: 1_048_576,
  bootstrapBodyLimitBytes: 67_108_864,
  // Off unless a test is about it: e2e suites send many requests from one address.
  http: { rateLimitPerSecond: 0, rateLimitBurst: 5000, refusalsPerSecond: 0, refusalBurst: 20, firstRequestTimeoutSeconds: 10, maxConnections: 0, trustProxy: false },
} as const satisfies Partial<AgentConfig>;

export function offlineConfig(overrides: Partial<OfflineModeConfig> = {}): OfflineModeConfig {
  return { ...COMMON, insights: { ...COMMON.insights, keepProperties: [] }, mode: 'offline', dataFile: SAMPLE_DATA_FILE, ...overrides };
}

/** Agent mode against a (fake) FeatBit evaluation server, with test-sized timings. */
export function agentConfig(streamingUrl: string, overrides: Partial<AgentModeConfig> = {}): AgentModeConfig {
  return { ...COMMON, insights: { ...COMMON.insights, keepProperties: [] }, mode: 'agent', streamingUri: new URL(streamingUrl), ...overrides };
}

/** POSTs a bootstrap body to an agent's admin API with the sample relay proxy key. */
export function postBootstrap(httpUrl: string, body: unknown): Promise<Response> {
  return fetch(`${httpUrl}/api/public/proxy/bootstrap`, {
    method: 'POST',
    headers: { authorization: RELAY_PROXY_KEY, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Upstream timings short enough for tests (reconnects in tens of ms). */
export const FAST_UPSTREAM = {
  pingMs: 200,
  deadAfterMs: 1500,
  statusMs: 500,
  connectTimeoutMs: 2000,
  registerTimeoutMs: 2000,
  backoffBaseMs: 50,
  backoffCapMs: 300,
  slowRetryMs: 1000,
};

/** Insight forwarding timings short enough for tests. */
export const FAST_INSIGHTS = { idleMs: 50, timeoutMs: 2000, backoffBaseMs: 50, backoffCapMs: 300, batchSize: 500 };

/** Starts the whole app on a free port. */
export async function startAgent(config: AgentConfig = offlineConfig(), options: CreateAppOptions = {}): Promise<RunningAgent> {
  const app = await createApp(config, { logger: false, upstreamTimings: FAST_UPSTREAM, insightTimings: FAST_INSIGHTS, ...options });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  if (address === null || typeof address === 'string') throw new Error('agent has no TCP address');
  const port = address.port;
  const pushes = app.get(PushService);
  return {
    app,
    port,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    store: app.get<FlagStore>(FLAG_STORE),
    pushed: () => pushes.idle(),
    close: () => app.close(),
  };
}
