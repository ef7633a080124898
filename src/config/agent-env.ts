import { IsBoolean, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, IsUrl, Max, Min, ValidateIf } from 'class-validator';

export type AgentMode = 'agent' | 'offline';
export type StoreType = 'memory' | 'sqlite' | 'redis';
export type InsightsMode = 'forward' | 'anonymize' | 'local' | 'off';

/** The environment variables, after name mapping and type conversion, before validation. */
export class AgentEnv {
  @IsIn(['agent', 'offline'], { message: 'MODE must be one of agent, offline (aliases: auto, manual)' })
  mode: AgentMode = 'offline';

  @IsInt({ message: 'PORT must be an integer' })
  @Min(0, { message: 'PORT must be between 0 and 65535' })
  @Max(65535, { message: 'PORT must be between 0 and 65535' })
  port = 6100;

  @IsString()
  host = '0.0.0.0';

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
  store: StoreType = 'memory';

  @IsNotEmpty({ message: 'SQLITE_PATH must not be blank' })
  sqlitePath = './featbit.db';

  @ValidateIf((e: AgentEnv) => e.store === 'redis')
  @IsNotEmpty({ message: 'REDIS_URL is required with STORE=redis' })
  @IsUrl({ protocols: ['redis', 'rediss'], require_tld: false, require_protocol: true }, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  redisUrl?: string;

  @IsString()
  redisKeyPrefix = 'featbit-agent:';

  @IsOptional()
  @IsIn(['forward', 'anonymize', 'local', 'off'], { message: 'INSIGHTS_MODE must be one of forward, anonymize, local, off' })
  insightsMode?: InsightsMode;

  @IsInt({ message: 'TOKEN_EXPIRY_SECONDS must be an integer' })
  @Min(1, { message: 'TOKEN_EXPIRY_SECONDS must be at least 1' })
  tokenExpirySeconds = 30;

  @IsInt({ message: 'INSIGHTS_MAX_QUEUE must be an integer' })
  @Min(1, { message: 'INSIGHTS_MAX_QUEUE must be at least 1' })
  insightsMaxQueue = 100_000;

  @ValidateIf((e: AgentEnv) => e.insightsMode === 'anonymize')
  @IsNotEmpty({ message: 'INSIGHTS_HASH_KEY is required with INSIGHTS_MODE=anonymize' })
  insightsHashKey?: string;

  @IsString()
  insightsKeepProperties = '';

  @IsNotEmpty({ message: 'INSIGHTS_DIR must not be blank' })
  insightsDir = './insights';

  @IsInt({ message: 'INSIGHTS_RETENTION_DAYS must be an integer' })
  @Min(1, { message: 'INSIGHTS_RETENTION_DAYS must be at least 1' })
  insightsRetentionDays = 30;

  @IsBoolean({ message: 'STATUS_PAGE must be true or false' })
  statusPage = true;

  @IsInt({ message: 'SHUTDOWN_TIMEOUT_SECONDS must be an integer' })
  @Min(1, { message: 'SHUTDOWN_TIMEOUT_SECONDS must be at least 1' })
  shutdownTimeoutSeconds = 25;

  @IsInt({ message: 'LEADER_LEASE_SECONDS must be an integer' })
  @Min(1, { message: 'LEADER_LEASE_SECONDS must be at least 1' })
  leaderLeaseSeconds = 10;

  @IsIn(['debug', 'info', 'warn', 'error'], { message: 'LOG_LEVEL must be one of debug, info, warn, error' })
  logLevel: 'debug' | 'info' | 'warn' | 'error' = 'info';
}
