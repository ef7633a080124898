import { hostname } from 'node:os';
import { createHash, randomUUID } from 'node:crypto';
import { validateSync } from 'class-validator';
import { AgentEnv, type InsightsMode } from './agent-env.js';
import { SETTINGS, namesOf, type Setting } from './settings.js';
import type { AgentConfig, InsightsOptions } from './agent-config.js';
import { ConfigError } from './config.errors.js';
import type { RedisStoreOptions, StoreOptions } from '../store/flag-store.js';
import { accessSync, constants, statSync } from 'node:fs';
import { isIP } from 'node:net';

const MODE_ALIASES: Record<string, string> = { auto: 'agent', manual: 'offline' };
const INTEGER = /^[+-]?\d+$/;

/** Looks a setting up by any of its names, case-insensitively; blank counts as unset. */
function lookup(env: Record<string, string | undefined>): (s: Setting) => string | undefined {
  const upper = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && !upper.has(name.toUpperCase())) upper.set(name.toUpperCase(), value);
  }
  return (s) => {
    for (const name of namesOf(s)) {
      const raw = name === 'ASPNETCORE_URLS' ? portFromAspNetUrls(upper.get(name)) : upper.get(name);
      if (raw !== undefined && raw.trim() !== '') return raw.trim();
    }
    return undefined;
  };
}

/** The port of ASP.NET's listen URL (`http://+:6100`), so the C# agent's compose files work. */
function portFromAspNetUrls(urls: string | undefined): string | undefined {
  return urls?.match(/:(\d+)\/?(?:;|$)/)?.[1];
}

/** Converts one variable by its declared type; a bad value is a problem and leaves the default. */
function convert(s: Setting, value: string, problems: string[]): unknown {
  switch (s.type) {
    case 'integer':
      if (INTEGER.test(value)) return Number(value);
      problems.push(`${s.name} must be an integer (got "${value}")`);
      return s.default;
    case 'boolean': {
      const lower = value.toLowerCase();
      if (lower === 'true' || lower === '1' || lower === 'yes') return true;
      if (lower === 'false' || lower === '0' || lower === 'no') return false;
      problems.push(`${s.name} must be true or false (got "${value}")`);
      return s.default;
    }
    case 'enum':
      return value.toLowerCase();
    case 'string':
    case 'url':
      return value;
  }
}

/** Kubernetes injects `<SERVICE>_PORT`, `<SERVICE>_SERVICE_HOST`, … for every Service; those are not typos. */
const KUBERNETES_SERVICE_VARIABLE = /_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_\w+)?)?)$/;

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

export interface UnknownSetting {
  variable: string;
  suggestion: string;
}

/**
 * Variables that look like one of ours but are not (`STREAMING_URL`, `REDIS_PASWORD`): a typo the
 * agent would otherwise ignore in silence. Close means within 1 edit for short names, 2 for longer.
 */
export function findUnknownSettings(env: Record<string, string | undefined>): UnknownSetting[] {
  const known = new Map<string, string>();
  for (const s of SETTINGS as readonly Setting[]) for (const name of namesOf(s)) known.set(name.replaceAll('_', ''), s.name);
  const found: UnknownSetting[] = [];
  for (const variable of Object.keys(env)) {
    const upper = variable.toUpperCase();
    const squashed = upper.replaceAll('_', '');
    if (known.has(squashed) && (SETTINGS as readonly Setting[]).some((s) => namesOf(s).includes(upper))) continue;
    if (KUBERNETES_SERVICE_VARIABLE.test(upper)) continue;
    let best: { name: string; distance: number } | undefined;
    for (const [name, ours] of known) {
      const distance = editDistance(squashed, name);
      if (distance <= (name.length >= 8 ? 2 : 1) && (best === undefined || distance < best.distance)) best = { name: ours, distance };
    }
    if (best !== undefined) found.push({ variable, suggestion: best.name });
  }
  return found;
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
  const fields = raw as unknown as Record<string, unknown>;
  for (const s of SETTINGS as readonly Setting[]) {
    const value = get(s);
    fields[s.field] = value === undefined ? s.default : convert(s, value, problems);
  }
  // The C# agent's Mode defaults to auto: FeatBit's address (or its key without a data file) means agent mode.
  let modeReason = 'MODE';
  if (raw.mode === undefined) {
    raw.mode = raw.streamingUri !== undefined || (raw.apiKey !== undefined && raw.dataFile === undefined) ? 'agent' : 'offline';
    modeReason =
      raw.mode === 'offline' ? 'default' : raw.streamingUri !== undefined ? 'STREAMING_URI is set and MODE is not' : 'API_KEY is set without DATA_FILE and MODE is not';
  } else {
    raw.mode = (MODE_ALIASES[raw.mode] ?? raw.mode) as AgentEnv['mode'];
  }

  for (const error of validateSync(raw)) problems.push(...Object.values(error.constraints ?? {}));
  if ((raw.insightsMode === 'forward' || raw.insightsMode === 'anonymize') && raw.eventUri === undefined) {
    problems.push(`INSIGHTS_MODE=${raw.insightsMode} needs EVENT_URI`);
  }
  if (raw.mode === 'agent' && raw.dataFile !== undefined) problems.push('DATA_FILE is for offline mode only');
  if (raw.forwardEvents === true && raw.eventUri === undefined) problems.push('FORWARD_EVENTS=true needs EVENT_URI (where FeatBit receives insights)');
  if (modeReason !== 'MODE' && modeReason !== 'default' && raw.streamingUri === undefined) {
    problems.push(`agent mode was chosen because ${modeReason}; set STREAMING_URI, or MODE=offline to serve a data file or bootstrap pushes`);
  }
  if (raw.store === 'redis') problems.push(...redisProblems(raw));
  const trustProxy = parseTrustProxy(raw.trustProxy ?? 'false');
  if (trustProxy === null) problems.push(`TRUST_PROXY must be true, false, or comma-separated IP addresses/CIDRs (got "${raw.trustProxy}")`);
  if (raw.httpMaxConnections > 0 && raw.httpMaxConnections <= raw.maxConnections) {
    // Every WebSocket is also a TCP connection: a lower bound would cap sockets below MAX_CONNECTIONS unannounced.
    problems.push(`HTTP_MAX_CONNECTIONS (${raw.httpMaxConnections}) must be above MAX_CONNECTIONS (${raw.maxConnections}), which it includes, or 0`);
  }
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);

  const agentId = raw.agentId ?? defaultAgentId();
  const store: StoreOptions =
    raw.store === 'redis'
      ? {
          type: 'redis',
          url: raw.redisUrl ?? '',
          keyPrefix: raw.redisKeyPrefix,
          podId: `${agentId}:${randomUUID().slice(0, 8)}`,
          leaseMs: raw.leaderLeaseSeconds * 1000,
          commandTimeoutMs: raw.redisCommandTimeoutMs,
          reconcileIntervalMs: raw.reconcileIntervalSeconds * 1000,
          ...redisConnectionOptions(raw),
        }
      : raw.store === 'sqlite'
        ? { type: 'sqlite', path: raw.sqlitePath, busyTimeoutMs: raw.sqliteBusyTimeoutMs }
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
    maxQueueBytes: raw.insightsMaxQueueBytes,
    maxEventBytes: raw.insightsMaxEventBytes,
    localMaxBytes: raw.insightsLocalMaxBytes,
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
    modeReason,
    streaming: {
      maxBufferedBytes: raw.wsMaxBufferedBytes,
      maxConnections: raw.maxConnections,
      messagesPerSecond: raw.wsMaxMessagesPerSecond,
      messageBurst: raw.wsMessageBurst,
      pingIntervalMs: raw.wsPingIntervalSeconds * 1000,
      pingTimeoutMs: raw.wsPingTimeoutSeconds * 1000,
      maxUserBytes: raw.wsMaxUserBytes,
      maxUserProperties: raw.wsMaxUserProperties,
      upgradesPerSecond: raw.wsUpgradesPerSecond,
      upgradeBurst: raw.wsUpgradeBurst,
      inboundBudgetBytes: raw.wsInboundBudgetBytes,
      outboundBudgetBytes: raw.wsOutboundBudgetBytes,
    },
    sdkBodyLimitBytes: raw.sdkBodyLimitBytes,
    bootstrapBodyLimitBytes: raw.bootstrapBodyLimitBytes,
    http: {
      rateLimitPerSecond: raw.rateLimitPerSecond,
      rateLimitBurst: raw.rateLimitBurst,
      refusalsPerSecond: raw.refusalsPerSecond,
      refusalBurst: raw.refusalBurst,
      firstRequestTimeoutSeconds: raw.firstRequestTimeoutSeconds,
      maxConnections: raw.httpMaxConnections,
      trustProxy: trustProxy ?? false,
    },
  };
  if (raw.mode === 'agent') {
    return {
      ...common,
      mode: 'agent',
      apiKey: raw.apiKey ?? '',
      streamingUri: new URL(raw.streamingUri ?? ''),
      upstreamMaxPayloadBytes: raw.upstreamMaxPayloadMb * 1024 * 1024,
    };
  }
  return { ...common, mode: 'offline', apiKey: raw.apiKey, dataFile: raw.dataFile };
}

/**
 * TRUST_PROXY as fastify's `trustProxy`: `true`/`false`, or addresses and CIDRs of the proxies in
 * front (`10.0.0.0/8,127.0.0.1`); null when malformed. No hop count: fastify 5 trusts no hop
 * given as a number (it cannot check the immediate peer).
 */
export function parseTrustProxy(text: string): boolean | string[] | null {
  const value = text.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  const entries = value.split(',').map((e) => e.trim());
  const valid = entries.every((entry) => {
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    if (family === 0 || extra !== undefined) return false;
    return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
  });
  return valid ? entries : null;
}

function hostPorts(list: string | undefined): { host: string; port: number }[] | undefined {
  if (list === undefined) return undefined;
  return list.split(',').map((entry) => {
    const [host, port] = entry.trim().split(':');
    return { host: host ?? '', port: Number(port) };
  });
}

/** Redis TLS, credentials, Sentinel and Cluster (issue 15). */
function redisConnectionOptions(raw: AgentEnv): Partial<RedisStoreOptions> {
  const tlsWanted = [raw.redisTlsCaFile, raw.redisTlsCertFile, raw.redisTlsKeyFile, raw.redisTlsServername].some((v) => v !== undefined);
  return {
    ...(raw.redisUsername !== undefined ? { username: raw.redisUsername } : {}),
    ...(raw.redisPassword !== undefined ? { password: raw.redisPassword } : {}),
    ...(tlsWanted ? { tls: { caFile: raw.redisTlsCaFile, certFile: raw.redisTlsCertFile, keyFile: raw.redisTlsKeyFile, servername: raw.redisTlsServername } } : {}),
    ...(raw.redisSentinels !== undefined
      ? { sentinels: hostPorts(raw.redisSentinels), sentinelMaster: raw.redisSentinelMaster, sentinelPassword: raw.redisSentinelPassword }
      : {}),
    ...(raw.redisClusterNodes !== undefined ? { clusterNodes: hostPorts(raw.redisClusterNodes) } : {}),
  };
}

function redisProblems(raw: AgentEnv): string[] {
  const problems: string[] = [];
  if (raw.redisSentinels !== undefined && raw.redisClusterNodes !== undefined) problems.push('REDIS_SENTINELS and REDIS_CLUSTER_NODES exclude each other');
  if ((raw.redisTlsCertFile === undefined) !== (raw.redisTlsKeyFile === undefined)) problems.push('REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together');
  for (const [name, file] of [
    ['REDIS_TLS_CA_FILE', raw.redisTlsCaFile],
    ['REDIS_TLS_CERT_FILE', raw.redisTlsCertFile],
    ['REDIS_TLS_KEY_FILE', raw.redisTlsKeyFile],
  ] as const) {
    if (file !== undefined && !isReadableFile(file)) problems.push(`${name}: cannot read ${file}`);
  }
  return problems;
}

function isReadableFile(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
