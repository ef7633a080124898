import { hostname } from 'node:os';
import { createHash, randomUUID } from 'node:crypto';
import { validateSync } from 'class-validator';
import { AgentEnv, type InsightsMode } from './agent-env.js';
import type { AgentConfig, InsightsOptions } from './agent-config.js';
import { ConfigError } from './config.errors.js';
import type { StoreOptions } from '../store/flag-store.js';

/** Our variable names and the C# agent's, matched case-insensitively. First name found wins. */
const NAMES: Record<string, string[]> = {
  mode: ['MODE'],
  port: ['PORT'],
  host: ['HOST'],
  apiKey: ['API_KEY', 'APIKEY'],
  agentId: ['AGENT_ID', 'AGENTID'],
  streamingUri: ['STREAMING_URI', 'STREAMINGURI'],
  eventUri: ['EVENT_URI', 'EVENTURI'],
  forwardEvents: ['FORWARD_EVENTS', 'FORWARDEVENTS'],
  dataFile: ['DATA_FILE'],
  store: ['STORE'],
  sqlitePath: ['SQLITE_PATH'],
  redisUrl: ['REDIS_URL'],
  redisKeyPrefix: ['REDIS_KEY_PREFIX'],
  insightsMode: ['INSIGHTS_MODE'],
  tokenExpirySeconds: ['TOKEN_EXPIRY_SECONDS', 'STREAMING__TOKENEXPIRYSECONDS'],
  logLevel: ['LOG_LEVEL'],
  leaderLeaseSeconds: ['LEADER_LEASE_SECONDS'],
  insightsMaxQueue: ['INSIGHTS_MAX_QUEUE'],
  insightsHashKey: ['INSIGHTS_HASH_KEY'],
  insightsKeepProperties: ['INSIGHTS_KEEP_PROPERTIES'],
  insightsDir: ['INSIGHTS_DIR'],
  insightsRetentionDays: ['INSIGHTS_RETENTION_DAYS'],
  shutdownTimeoutSeconds: ['SHUTDOWN_TIMEOUT_SECONDS'],
  statusPage: ['STATUS_PAGE'],
};

const MODE_ALIASES: Record<string, string> = { auto: 'agent', manual: 'offline' };
const INTEGER = /^[+-]?\d+$/;

function lookup(env: Record<string, string | undefined>): (field: string) => string | undefined {
  const upper = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !upper.has(name.toUpperCase())) upper.set(name.toUpperCase(), value);
  }
  return (field) => {
    for (const name of NAMES[field] ?? []) {
      const value = upper.get(name);
      if (value !== undefined && value.trim() !== '') return value.trim();
    }
    return undefined;
  };
}

/** The port of ASP.NET's listen URL (`http://+:6100`), so the C# agent's compose files work. */
function portFromAspNetUrls(env: Record<string, string | undefined>): string | undefined {
  const urls = Object.entries(env).find(([name]) => name.toUpperCase() === 'ASPNETCORE_URLS')?.[1];
  return urls?.match(/:(\d+)\/?(?:;|$)/)?.[1];
}

function toInt(value: string | undefined, fallback: number, problems: string[], name: string): number {
  if (value === undefined) return fallback;
  if (!INTEGER.test(value)) {
    problems.push(`${name} must be an integer (got "${value}")`);
    return fallback;
  }
  return Number(value);
}

function toBool(value: string | undefined, problems: string[], name: string): boolean | undefined {
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (lower === 'true' || lower === '1' || lower === 'yes') return true;
  if (lower === 'false' || lower === '0' || lower === 'no') return false;
  problems.push(`${name} must be true or false (got "${value}")`);
  return undefined;
}

/** A stable id for this host when AGENT_ID is unset: the host name plus a short hash of it. */
export function defaultAgentId(host = hostname()): string {
  const safe = host.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40) || 'agent';
  return `${safe}-${createHash('sha256').update(host).digest('hex').slice(0, 8)}`;
}

/**
 * Reads the environment once, validates it, and returns the typed config.
 * Throws one ConfigError listing every problem. The only reader of `process.env`.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): AgentConfig {
  const get = lookup(env);
  const problems: string[] = [];
  const raw = new AgentEnv();
  const mode = get('mode')?.toLowerCase();
  if (mode !== undefined) raw.mode = (MODE_ALIASES[mode] ?? mode) as AgentEnv['mode'];
  raw.port = toInt(get('port') ?? portFromAspNetUrls(env), raw.port, problems, 'PORT');
  raw.host = get('host') ?? raw.host;
  raw.apiKey = get('apiKey');
  raw.agentId = get('agentId');
  raw.streamingUri = get('streamingUri');
  raw.eventUri = get('eventUri');
  raw.forwardEvents = toBool(get('forwardEvents'), problems, 'FORWARD_EVENTS');
  raw.dataFile = get('dataFile');
  raw.store = (get('store')?.toLowerCase() ?? raw.store) as AgentEnv['store'];
  raw.sqlitePath = get('sqlitePath') ?? raw.sqlitePath;
  raw.redisUrl = get('redisUrl');
  raw.redisKeyPrefix = get('redisKeyPrefix') ?? raw.redisKeyPrefix;
  raw.insightsMode = get('insightsMode')?.toLowerCase() as InsightsMode | undefined;
  raw.tokenExpirySeconds = toInt(get('tokenExpirySeconds'), raw.tokenExpirySeconds, problems, 'TOKEN_EXPIRY_SECONDS');
  raw.logLevel = (get('logLevel')?.toLowerCase() ?? raw.logLevel) as AgentEnv['logLevel'];
  raw.leaderLeaseSeconds = toInt(get('leaderLeaseSeconds'), raw.leaderLeaseSeconds, problems, 'LEADER_LEASE_SECONDS');
  raw.insightsMaxQueue = toInt(get('insightsMaxQueue'), raw.insightsMaxQueue, problems, 'INSIGHTS_MAX_QUEUE');
  raw.insightsHashKey = get('insightsHashKey');
  raw.insightsKeepProperties = get('insightsKeepProperties') ?? raw.insightsKeepProperties;
  raw.insightsDir = get('insightsDir') ?? raw.insightsDir;
  raw.statusPage = toBool(get('statusPage'), problems, 'STATUS_PAGE') ?? raw.statusPage;
  raw.shutdownTimeoutSeconds = toInt(get('shutdownTimeoutSeconds'), raw.shutdownTimeoutSeconds, problems, 'SHUTDOWN_TIMEOUT_SECONDS');
  raw.insightsRetentionDays = toInt(get('insightsRetentionDays'), raw.insightsRetentionDays, problems, 'INSIGHTS_RETENTION_DAYS');

  for (const error of validateSync(raw)) problems.push(...Object.values(error.constraints ?? {}));
  if ((raw.insightsMode === 'forward' || raw.insightsMode === 'anonymize') && raw.eventUri === undefined) {
    problems.push(`INSIGHTS_MODE=${raw.insightsMode} needs EVENT_URI`);
  }
  if (raw.mode === 'agent' && raw.dataFile !== undefined) problems.push('DATA_FILE is for offline mode only');
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);

  const agentId = raw.agentId ?? defaultAgentId();
  const store: StoreOptions =
    raw.store === 'redis'
      ? { type: 'redis', url: raw.redisUrl ?? '', keyPrefix: raw.redisKeyPrefix, podId: `${agentId}:${randomUUID().slice(0, 8)}`, leaseMs: raw.leaderLeaseSeconds * 1000 }
      : raw.store === 'sqlite'
        ? { type: 'sqlite', path: raw.sqlitePath }
        : { type: 'memory' };
  const eventUri = raw.eventUri === undefined ? undefined : new URL(raw.eventUri);
  // C# agent: ForwardEvents defaults to true and then needs EventUri. Ours: forward when EVENT_URI is set.
  const insightsMode: InsightsMode =
    raw.insightsMode ?? (raw.forwardEvents === false ? 'off' : eventUri !== undefined ? 'forward' : 'off');
  const insights: InsightsOptions = {
    mode: insightsMode,
    maxQueue: raw.insightsMaxQueue,
    hashKey: raw.insightsHashKey,
    keepProperties: raw.insightsKeepProperties.split(',').map((p) => p.trim()).filter((p) => p !== ''),
    dir: raw.insightsDir,
    retentionDays: raw.insightsRetentionDays,
  };
  const common = {
    insights,
    shutdownTimeoutSeconds: raw.shutdownTimeoutSeconds,
    statusPage: raw.statusPage,
    port: raw.port,
    host: raw.host,
    agentId,
    eventUri,
    insightsMode,
    tokenExpirySeconds: raw.tokenExpirySeconds,
    store,
    logLevel: raw.logLevel,
  };
  if (raw.mode === 'agent') {
    return { ...common, mode: 'agent', apiKey: raw.apiKey ?? '', streamingUri: new URL(raw.streamingUri ?? '') };
  }
  return { ...common, mode: 'offline', apiKey: raw.apiKey, dataFile: raw.dataFile };
}
