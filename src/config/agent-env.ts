import { IsBoolean, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, IsUrl, Matches, Max, Min, ValidateIf } from 'class-validator';

export type AgentMode = 'agent' | 'offline';
export type StoreType = 'memory' | 'sqlite' | 'redis';
export type InsightsMode = 'forward' | 'anonymize' | 'local' | 'off';

/**
 * The environment variables, after name mapping and type conversion, before validation.
 * Names, types and defaults are declared once in `settings.ts`; this class holds the rules.
 */
export class AgentEnv {
  @IsIn(['agent', 'offline'], { message: 'MODE must be one of agent, offline (aliases: auto, manual)' })
  mode!: AgentMode;

  @IsInt({ message: 'PORT must be an integer' })
  @Min(0, { message: 'PORT must be between 0 and 65535' })
  @Max(65535, { message: 'PORT must be between 0 and 65535' })
  port!: number;

  @IsString()
  host!: string;

  @ValidateIf((e: AgentEnv) => e.mode === 'agent')
  @IsNotEmpty({ message: 'API_KEY is required in agent mode' })
  apiKey?: string;

  @IsOptional()
  @IsNotEmpty({ message: 'AGENT_ID must not be blank' })
  agentId?: string;

  @ValidateIf((e: AgentEnv) => e.mode === 'agent')
  @IsNotEmpty({ message: 'STREAMING_URI is required in agent mode' })
  @IsUrl({ protocols: ['ws', 'wss'], require_tld: false, require_protocol: true }, { message: 'STREAMING_URI must be a ws:// or wss:// URL' })
  streamingUri?: string;

  @ValidateIf((e: AgentEnv) => e.eventUri !== undefined)
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true }, { message: 'EVENT_URI must be an http:// or https:// URL' })
  eventUri?: string;

  @IsOptional()
  @IsBoolean({ message: 'FORWARD_EVENTS must be true or false' })
  forwardEvents?: boolean;

  @IsOptional()
  @IsNotEmpty({ message: 'DATA_FILE must not be blank' })
  dataFile?: string;

  @IsIn(['memory', 'sqlite', 'redis'], { message: 'STORE must be one of memory, sqlite, redis' })
  store!: StoreType;

  @IsNotEmpty({ message: 'SQLITE_PATH must not be blank' })
  sqlitePath!: string;

  @IsInt({ message: 'SQLITE_BUSY_TIMEOUT_MS must be an integer' })
  @Min(0, { message: 'SQLITE_BUSY_TIMEOUT_MS must be at least 0' })
  sqliteBusyTimeoutMs!: number;

  @ValidateIf((e: AgentEnv) => e.store === 'redis')
  @IsNotEmpty({ message: 'REDIS_URL is required with STORE=redis' })
  @ValidateIf((e: AgentEnv) => e.store === 'redis' && (e.redisUrl !== undefined || (e.redisSentinels === undefined && e.redisClusterNodes === undefined)))
  @IsNotEmpty({ message: 'REDIS_URL is required with STORE=redis (unless REDIS_SENTINELS or REDIS_CLUSTER_NODES is set)' })
  @IsUrl({ protocols: ['redis', 'rediss'], require_tld: false, require_protocol: true }, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  redisUrl?: string;

  @IsString()
  redisKeyPrefix!: string;

  @IsOptional()
  @IsIn(['forward', 'anonymize', 'local', 'off'], { message: 'INSIGHTS_MODE must be one of forward, anonymize, local, off' })
  insightsMode?: InsightsMode;

  @IsInt({ message: 'TOKEN_EXPIRY_SECONDS must be an integer' })
  @Min(1, { message: 'TOKEN_EXPIRY_SECONDS must be at least 1' })
  tokenExpirySeconds!: number;

  @IsInt({ message: 'INSIGHTS_MAX_QUEUE must be an integer' })
  @Min(1, { message: 'INSIGHTS_MAX_QUEUE must be at least 1' })
  insightsMaxQueue!: number;

  @ValidateIf((e: AgentEnv) => e.insightsMode === 'anonymize')
  @IsNotEmpty({ message: 'INSIGHTS_HASH_KEY is required with INSIGHTS_MODE=anonymize' })
  insightsHashKey?: string;

  @IsString()
  insightsKeepProperties!: string;

  @IsNotEmpty({ message: 'INSIGHTS_DIR must not be blank' })
  insightsDir!: string;

  @IsInt({ message: 'INSIGHTS_RETENTION_DAYS must be an integer' })
  @Min(1, { message: 'INSIGHTS_RETENTION_DAYS must be at least 1' })
  insightsRetentionDays!: number;

  @IsBoolean({ message: 'STATUS_PAGE must be true or false' })
  statusPage!: boolean;

  @IsInt({ message: 'SHUTDOWN_TIMEOUT_SECONDS must be an integer' })
  @Min(1, { message: 'SHUTDOWN_TIMEOUT_SECONDS must be at least 1' })
  shutdownTimeoutSeconds!: number;

  @IsInt({ message: 'LEADER_LEASE_SECONDS must be an integer' })
  @Min(1, { message: 'LEADER_LEASE_SECONDS must be at least 1' })
  leaderLeaseSeconds!: number;

  @IsIn(['debug', 'info', 'warn', 'error'], { message: 'LOG_LEVEL must be one of debug, info, warn, error' })
  logLevel!: 'debug' | 'info' | 'warn' | 'error';

  @IsInt({ message: 'UPSTREAM_MAX_PAYLOAD_MB must be an integer' })
  @Min(1, { message: 'UPSTREAM_MAX_PAYLOAD_MB must be at least 1' })
  // A JavaScript string holds at most about 512 MiB: a larger message could not be parsed anyway.
  @Max(512, { message: 'UPSTREAM_MAX_PAYLOAD_MB must be at most 512' })
  upstreamMaxPayloadMb!: number;
  @IsInt({ message: 'WS_MAX_BUFFERED_BYTES must be an integer' })
  @Min(65_536, { message: 'WS_MAX_BUFFERED_BYTES must be at least 65536' })
  wsMaxBufferedBytes!: number;

  @IsInt({ message: 'MAX_CONNECTIONS must be an integer' })
  @Min(1, { message: 'MAX_CONNECTIONS must be at least 1' })
  maxConnections!: number;

  @IsInt({ message: 'WS_MAX_MESSAGES_PER_SECOND must be an integer' })
  @Min(1, { message: 'WS_MAX_MESSAGES_PER_SECOND must be at least 1' })
  wsMaxMessagesPerSecond!: number;

  @IsInt({ message: 'WS_MESSAGE_BURST must be an integer' })
  @Min(1, { message: 'WS_MESSAGE_BURST must be at least 1' })
  wsMessageBurst!: number;

  @IsInt({ message: 'WS_PING_INTERVAL_SECONDS must be an integer' })
  @Min(1, { message: 'WS_PING_INTERVAL_SECONDS must be at least 1' })
  wsPingIntervalSeconds!: number;

  @IsInt({ message: 'WS_PING_TIMEOUT_SECONDS must be an integer' })
  @Min(1, { message: 'WS_PING_TIMEOUT_SECONDS must be at least 1' })
  wsPingTimeoutSeconds!: number;

  @IsInt({ message: 'WS_MAX_USER_BYTES must be an integer' })
  @Min(256, { message: 'WS_MAX_USER_BYTES must be at least 256' })
  wsMaxUserBytes!: number;

  @IsInt({ message: 'WS_MAX_USER_PROPERTIES must be an integer' })
  @Min(0, { message: 'WS_MAX_USER_PROPERTIES must be at least 0' })
  wsMaxUserProperties!: number;

  @IsInt({ message: 'WS_INBOUND_BUDGET_BYTES must be an integer' })
  @Min(2_097_152, { message: 'WS_INBOUND_BUDGET_BYTES must be at least 2097152 (two messages of the largest size)' })
  wsInboundBudgetBytes!: number;

  @IsInt({ message: 'WS_OUTBOUND_BUDGET_BYTES must be an integer' })
  @Min(0, { message: 'WS_OUTBOUND_BUDGET_BYTES must be at least 0 (0 turns the total bound off)' })
  wsOutboundBudgetBytes!: number;
  @IsInt({ message: 'INSIGHTS_MAX_QUEUE_BYTES must be an integer' })
  @Min(1024, { message: 'INSIGHTS_MAX_QUEUE_BYTES must be at least 1024' })
  insightsMaxQueueBytes!: number;

  @IsInt({ message: 'INSIGHTS_MAX_EVENT_BYTES must be an integer' })
  @Min(256, { message: 'INSIGHTS_MAX_EVENT_BYTES must be at least 256' })
  insightsMaxEventBytes!: number;

  @IsInt({ message: 'INSIGHTS_LOCAL_MAX_BYTES must be an integer' })
  @Min(1024, { message: 'INSIGHTS_LOCAL_MAX_BYTES must be at least 1024' })
  insightsLocalMaxBytes!: number;
  @IsInt({ message: 'SDK_BODY_LIMIT_BYTES must be an integer' })
  @Min(1024, { message: 'SDK_BODY_LIMIT_BYTES must be at least 1024' })
  sdkBodyLimitBytes!: number;

  @IsInt({ message: 'BOOTSTRAP_BODY_LIMIT_BYTES must be an integer' })
  @Min(1024, { message: 'BOOTSTRAP_BODY_LIMIT_BYTES must be at least 1024' })
  bootstrapBodyLimitBytes!: number;
  @IsInt({ message: 'REDIS_COMMAND_TIMEOUT_MS must be an integer' })
  @Min(50, { message: 'REDIS_COMMAND_TIMEOUT_MS must be at least 50' })
  redisCommandTimeoutMs!: number;

  @IsInt({ message: 'RECONCILE_INTERVAL_SECONDS must be an integer' })
  @Min(1, { message: 'RECONCILE_INTERVAL_SECONDS must be at least 1' })
  reconcileIntervalSeconds!: number;

  @IsOptional()
  @IsNotEmpty({ message: 'REDIS_USERNAME must not be blank' })
  redisUsername?: string;

  @IsOptional()
  @IsString()
  redisPassword?: string;

  @IsOptional()
  @IsNotEmpty({ message: 'REDIS_TLS_CA_FILE must not be blank' })
  redisTlsCaFile?: string;

  @IsOptional()
  @IsNotEmpty({ message: 'REDIS_TLS_CERT_FILE must not be blank' })
  redisTlsCertFile?: string;

  @IsOptional()
  @IsNotEmpty({ message: 'REDIS_TLS_KEY_FILE must not be blank' })
  redisTlsKeyFile?: string;

  @IsOptional()
  @IsNotEmpty({ message: 'REDIS_TLS_SERVERNAME must not be blank' })
  redisTlsServername?: string;

  @IsOptional()
  @Matches(/^\s*[^,:\s]+:\d{1,5}\s*(,\s*[^,:\s]+:\d{1,5}\s*)*$/, { message: 'REDIS_SENTINELS must be host:port[,host:port...]' })
  redisSentinels?: string;

  @ValidateIf((e: AgentEnv) => e.redisSentinels !== undefined)
  @IsNotEmpty({ message: 'REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS' })
  redisSentinelMaster?: string;

  @IsOptional()
  @IsString()
  redisSentinelPassword?: string;

  @IsOptional()
  @Matches(/^\s*[^,:\s]+:\d{1,5}\s*(,\s*[^,:\s]+:\d{1,5}\s*)*$/, { message: 'REDIS_CLUSTER_NODES must be host:port[,host:port...]' })
  redisClusterNodes?: string;
  @IsInt({ message: 'RATE_LIMIT_PER_SECOND must be an integer' })
  @Min(0, { message: 'RATE_LIMIT_PER_SECOND must be at least 0 (0 turns the limit off)' })
  rateLimitPerSecond!: number;

  @IsInt({ message: 'RATE_LIMIT_BURST must be an integer' })
  @Min(1, { message: 'RATE_LIMIT_BURST must be at least 1' })
  rateLimitBurst!: number;

  @IsInt({ message: 'REFUSALS_PER_SECOND must be an integer' })
  @Min(0, { message: 'REFUSALS_PER_SECOND must be at least 0 (0 answers every refusal at once)' })
  refusalsPerSecond!: number;

  @IsInt({ message: 'REFUSAL_BURST must be an integer' })
  @Min(1, { message: 'REFUSAL_BURST must be at least 1' })
  refusalBurst!: number;

  @IsInt({ message: 'HTTP_FIRST_REQUEST_TIMEOUT_SECONDS must be an integer' })
  @Min(0, { message: 'HTTP_FIRST_REQUEST_TIMEOUT_SECONDS must be at least 0 (0 turns it off)' })
  firstRequestTimeoutSeconds!: number;

  @IsInt({ message: 'HTTP_MAX_CONNECTIONS must be an integer' })
  @Min(0, { message: 'HTTP_MAX_CONNECTIONS must be at least 0 (0 turns the bound off)' })
  httpMaxConnections!: number;

  @IsInt({ message: 'WS_UPGRADES_PER_SECOND must be an integer' })
  @Min(0, { message: 'WS_UPGRADES_PER_SECOND must be at least 0 (0 turns the limit off)' })
  wsUpgradesPerSecond!: number;

  @IsInt({ message: 'WS_UPGRADE_BURST must be an integer' })
  @Min(1, { message: 'WS_UPGRADE_BURST must be at least 1' })
  wsUpgradeBurst!: number;

  /** Parsed and checked address by address in `loadConfig`. */
  @IsNotEmpty({ message: 'TRUST_PROXY must not be blank' })
  trustProxy!: string;
}

