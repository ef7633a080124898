import type { AgentMode, InsightsMode } from './agent-env.js';
import type { StoreOptions } from '../store/flag-store.js';

interface CommonConfig {
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
