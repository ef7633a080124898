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
  /** Bound of the queue in bytes of serialised events (INSIGHTS_MAX_QUEUE_BYTES; default 64 MiB). */
  maxQueueBytes?: number;
  /** Largest accepted event, in bytes of JSON (INSIGHTS_MAX_EVENT_BYTES; default 64 KiB). */
  maxEventBytes?: number;
  /** local: bound of what is kept, NDJSON files or SQLite bodies (INSIGHTS_LOCAL_MAX_BYTES; default 1 GiB). */
  localMaxBytes?: number;
}

/** Bounds on SDK WebSocket connections (issue 11); times in ms. */
export interface StreamingLimits {
  /** A socket with more unsent bytes than this is dropped before the next push or reply. */
  maxBufferedBytes: number;
  /** Open sockets; upgrades past it are answered 503. */
  maxConnections: number;
  /** Token bucket per socket: sustained inbound messages per second, and the burst. */
  messagesPerSecond: number;
  messageBurst: number;
  /** Protocol-level ping period, and how long a ping may stay unanswered. */
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** A client user larger than this (JSON bytes) or with more properties is ignored. */
  maxUserBytes: number;
  maxUserProperties: number;
  /** Token bucket of upgrades per client address (0 per second: no limit). */
  upgradesPerSecond: number;
  upgradeBurst: number;
  /** Inbound bytes all sockets together may hold in messages not yet handled, incomplete frames included. */
  inboundBudgetBytes: number;
  /** Unsent bytes all sockets together may hold (each within maxBufferedBytes); 0: no total bound. */
  outboundBudgetBytes: number;
}

/** The HTTP routes SDKs call (issue 11). */
export interface HttpOptions {
  /** Per client (IP address + the secret presented): sustained requests per second (0: no limit) and the burst. */
  rateLimitPerSecond: number;
  rateLimitBurst: number;
  /** Per client address: refusals answered at once per second (0: all of them) and the burst; the rest are held (common/token-buckets.ts `Tarpit`). */
  refusalsPerSecond: number;
  refusalBurst: number;
  /** A connection silent this long before its first request is closed (0: never); common/silent-connections.ts. */
  firstRequestTimeoutSeconds: number;
  /** Open TCP connections of every kind, WebSockets included (node's `server.maxConnections`; 0: no bound). */
  maxConnections: number;
  /** fastify's `trustProxy`: whose `X-Forwarded-For` names the client. */
  trustProxy: boolean | string[];
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
  streaming: StreamingLimits;
  /** Largest request body on every route but the bootstrap (SDK, OFREP, insights). */
  sdkBodyLimitBytes: number;
  /** Largest admin bootstrap body, read only after the relay proxy key is checked. */
  bootstrapBodyLimitBytes: number;
  http: HttpOptions;
}

export interface AgentModeConfig extends CommonConfig {
  mode: 'agent';
  apiKey: string;
  streamingUri: URL;
  /** Largest upstream WebSocket message accepted (UPSTREAM_MAX_PAYLOAD_MB). */
  upstreamMaxPayloadBytes: number;
}

export interface OfflineModeConfig extends CommonConfig {
  mode: 'offline';
  dataFile?: string;
}

export type AgentConfig = AgentModeConfig | OfflineModeConfig;
