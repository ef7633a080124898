import type { AgentMode, InsightsMode } from './agent-env.js';
import type { StoreOptions } from '../store/flag-store.js';

export interface InsightsOptions {
  mode: InsightsMode;
  /** Bound of the queue; the oldest are dropped beyond it. */
  maxQueue: number;
  /** anonymize: HMAC key for user keys. */
  hashKey?: string;
  /** anonymize: custom properties that may leave the agent. */
  keepProperties: string[];
  /** local with the memory store: where NDJSON files are kept. */
  dir: string;
  retentionDays: number;
}

interface CommonConfig {
  insights: InsightsOptions;
  /** Bound of the graceful drain on SIGTERM. */
  shutdownTimeoutSeconds: number;
  /** Serve the operator status page at `/`. */
  statusPage: boolean;
  mode: AgentMode;
  port: number;
  host: string;
  /** Relay proxy key; guards the admin API. Unset in offline mode → admin API answers 401. */
  apiKey?: string;
  agentId: string;
  eventUri?: URL;
  insightsMode: InsightsMode;
  tokenExpirySeconds: number;
  store: StoreOptions;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Why this mode was chosen when MODE was unset (logged at start). */
  modeReason?: string;
  /** Largest request body on every route but the bootstrap (SDK, OFREP, insights). */
  sdkBodyLimitBytes: number;
  /** Largest admin bootstrap body, read only after the relay proxy key is checked. */
  bootstrapBodyLimitBytes: number;
}

export interface AgentModeConfig extends CommonConfig {
  mode: 'agent';
  apiKey: string;
  streamingUri: URL;
}

export interface OfflineModeConfig extends CommonConfig {
  mode: 'offline';
  dataFile?: string;
}

export type AgentConfig = AgentModeConfig | OfflineModeConfig;
