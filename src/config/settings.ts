/**
 * The one declaration of every setting the agent reads: its variable name, the C# agent's name for it,
 * its type, its default and what it does. `loadConfig` reads the environment through this table,
 * `--help` prints it, the README's configuration table is generated from it, and a test checks the
 * Helm chart's ConfigMap and Secret keys against it. Validation rules live on `AgentEnv`.
 */
export type SettingType = 'string' | 'integer' | 'boolean' | 'enum' | 'url';

export interface Setting {
  /** The `AgentEnv` field it fills. */
  readonly field: string;
  /** Our variable name (matched case-insensitively). */
  readonly name: string;
  /** Other accepted names, the C# agent's first; matched case-insensitively, after `name`. */
  readonly aliases?: readonly string[];
  readonly type: SettingType;
  /** Allowed values of an `enum` (lower case; input is lower-cased). */
  readonly values?: readonly string[];
  /** The value used when the variable is unset; `undefined` means unset stays unset. */
  readonly default?: string | number | boolean;
  /** How the default reads in docs when it is computed rather than a constant. */
  readonly defaultText?: string;
  readonly description: string;
  /** Never printed; kept in a Kubernetes Secret by the chart. */
  readonly secret?: boolean;
}

export const SETTINGS = [
  { field: 'mode', name: 'MODE', aliases: ['Mode'], type: 'enum', values: ['agent', 'offline', 'auto', 'manual'],
    defaultText: '`agent` when `STREAMING_URI` is set (or `API_KEY` without `DATA_FILE`), else `offline`',
    description: '`agent` syncs from FeatBit, `offline` serves a data file or bootstrap pushes; the C# names `auto` and `manual` are accepted' },
  { field: 'port', name: 'PORT', aliases: ['ASPNETCORE_URLS'], type: 'integer', default: 6100,
    description: 'HTTP and WebSocket port (from `ASPNETCORE_URLS` its port part is taken)' },
  { field: 'host', name: 'HOST', type: 'string', default: '0.0.0.0', description: 'address to listen on' },
  { field: 'apiKey', name: 'API_KEY', aliases: ['ApiKey'], type: 'string', secret: true,
    description: 'relay proxy key (`rp-…`): authenticates to FeatBit in agent mode and guards the admin API (unset: admin API answers 401)' },
  { field: 'agentId', name: 'AGENT_ID', aliases: ['AgentId'], type: 'string', defaultText: 'from the host name',
    description: 'id this agent registers with FeatBit' },
  { field: 'streamingUri', name: 'STREAMING_URI', aliases: ['StreamingUri'], type: 'url',
    description: 'FeatBit evaluation server, `ws://` or `wss://` (agent mode; a path prefix is kept)' },
  { field: 'eventUri', name: 'EVENT_URI', aliases: ['EventUri'], type: 'url',
    description: 'FeatBit evaluation server for insights, `http://` or `https://`' },
  { field: 'forwardEvents', name: 'FORWARD_EVENTS', aliases: ['ForwardEvents'], type: 'boolean',
    description: '`false` discards insights; `true` requires `EVENT_URI`' },
  { field: 'dataFile', name: 'DATA_FILE', type: 'string',
    description: 'offline mode: JSON dump loaded at start (a bootstrap body or a legacy v1 array)' },
  { field: 'store', name: 'STORE', type: 'enum', values: ['memory', 'sqlite', 'redis'], default: 'memory',
    description: 'where flag data is kept: `memory`, `sqlite` (survives restarts) or `redis` (shared by pods)' },
  { field: 'sqlitePath', name: 'SQLITE_PATH', type: 'string', default: './featbit.db', description: 'SQLite file (`STORE=sqlite`)' },
  { field: 'sqliteBusyTimeoutMs', name: 'SQLITE_BUSY_TIMEOUT_MS', type: 'integer', default: 5000,
    description: 'SQLite: how long a write waits for another connection\'s lock before it fails and is retried' },
  { field: 'redisUrl', name: 'REDIS_URL', type: 'url', secret: true, description: 'Redis server, `redis://` or `rediss://` (`STORE=redis`)' },
  { field: 'redisKeyPrefix', name: 'REDIS_KEY_PREFIX', type: 'string', default: 'featbit-agent:', description: 'prefix of every Redis key and channel' },
  { field: 'leaderLeaseSeconds', name: 'LEADER_LEASE_SECONDS', type: 'integer', default: 10,
    description: 'Redis: leader lease; a dead leader is replaced within this time' },
  { field: 'insightsMode', name: 'INSIGHTS_MODE', type: 'enum', values: ['forward', 'anonymize', 'local', 'off'],
    defaultText: '`forward` when `EVENT_URI` is set, else `off`', description: '`forward`, `anonymize`, `local` or `off` (see Insights)' },
  { field: 'insightsHashKey', name: 'INSIGHTS_HASH_KEY', type: 'string', secret: true, description: '`anonymize`: HMAC key for user keys and names (required there)' },
  { field: 'insightsKeepProperties', name: 'INSIGHTS_KEEP_PROPERTIES', type: 'string', default: '',
    description: '`anonymize`: comma-separated custom properties that may leave the agent' },
  { field: 'insightsMaxQueue', name: 'INSIGHTS_MAX_QUEUE', type: 'integer', default: 100_000, description: 'insight queue bound, in events' },
  { field: 'insightsDir', name: 'INSIGHTS_DIR', type: 'string', default: './insights', description: '`local` with the memory store: where NDJSON files are kept' },
  { field: 'insightsRetentionDays', name: 'INSIGHTS_RETENTION_DAYS', type: 'integer', default: 30, description: '`local`: how long insights are kept' },
  { field: 'tokenExpirySeconds', name: 'TOKEN_EXPIRY_SECONDS', aliases: ['Streaming__TokenExpirySeconds'], type: 'integer', default: 30,
    description: 'accepted age of SDK streaming tokens' },
  { field: 'logLevel', name: 'LOG_LEVEL', type: 'enum', values: ['debug', 'info', 'warn', 'error'], default: 'info', description: 'log level' },
  { field: 'shutdownTimeoutSeconds', name: 'SHUTDOWN_TIMEOUT_SECONDS', type: 'integer', default: 25, description: 'bound of the graceful drain on SIGTERM' },
  { field: 'statusPage', name: 'STATUS_PAGE', type: 'boolean', default: true, description: 'serve the operator status page at `/`' },
  { field: 'upstreamMaxPayloadMb', name: 'UPSTREAM_MAX_PAYLOAD_MB', type: 'integer', default: 256,
    description: 'agent mode: largest message accepted from FeatBit, in MiB (an `rp_full` carries every environment in one message; 1–512)' },
  { field: 'wsMaxBufferedBytes', name: 'WS_MAX_BUFFERED_BYTES', type: 'integer', default: 8_388_608,
    description: 'WebSocket: a socket holding more unsent data than this (its bytes plus 192 per queued write) is dropped before the next push or reply' },
  { field: 'maxConnections', name: 'MAX_CONNECTIONS', type: 'integer', default: 20_000,
    description: 'WebSocket: open SDK sockets; upgrades past it are answered 503' },
  { field: 'wsMaxMessagesPerSecond', name: 'WS_MAX_MESSAGES_PER_SECOND', type: 'integer', default: 20,
    description: 'WebSocket: sustained inbound messages per socket (token bucket); past the burst the socket is closed with 1008' },
  { field: 'wsMessageBurst', name: 'WS_MESSAGE_BURST', type: 'integer', default: 100,
    description: 'WebSocket: inbound messages a socket may send at once before the rate applies' },
  { field: 'wsPingIntervalSeconds', name: 'WS_PING_INTERVAL_SECONDS', type: 'integer', default: 30,
    description: 'WebSocket: the agent sends a protocol-level ping to every socket this often' },
  { field: 'wsPingTimeoutSeconds', name: 'WS_PING_TIMEOUT_SECONDS', type: 'integer', default: 20,
    description: 'WebSocket: a socket that has not answered a ping within this time is terminated' },
  { field: 'wsMaxUserBytes', name: 'WS_MAX_USER_BYTES', type: 'integer', default: 8192,
    description: 'WebSocket: largest client `data-sync` user (JSON bytes) a socket may hold; larger users are ignored (FeatBit itself reads 8 KiB per message)' },
  { field: 'wsMaxUserProperties', name: 'WS_MAX_USER_PROPERTIES', type: 'integer', default: 500,
    description: 'WebSocket: most `customizedProperties` of a client `data-sync` user; more and the user is ignored' },
  { field: 'wsInboundBudgetBytes', name: 'WS_INBOUND_BUDGET_BYTES', type: 'integer', default: 67_108_864,
    description: 'WebSocket: inbound bytes all sockets together may hold in messages not yet handled, incomplete frames included (each socket may hold up to 1 MiB, the largest message); past it, a socket holding more than 64 KiB of them is closed with 1013' },
  { field: 'wsOutboundBudgetBytes', name: 'WS_OUTBOUND_BUDGET_BYTES', type: 'integer', default: 134_217_728,
    description: 'WebSocket: unsent data all sockets together may hold (counted as for `WS_MAX_BUFFERED_BYTES`, which bounds each socket); past it, a socket holding more than 64 KiB is dropped before its next push or reply. `0` turns the total bound off' },
  { field: 'insightsMaxQueueBytes', name: 'INSIGHTS_MAX_QUEUE_BYTES', type: 'integer', default: 67_108_864,
    description: 'insight queue bound, in bytes of serialised events (memory, SQLite and Redis alike); past it or `INSIGHTS_MAX_QUEUE` the oldest are dropped and counted' },
  { field: 'insightsMaxEventBytes', name: 'INSIGHTS_MAX_EVENT_BYTES', type: 'integer', default: 65_536,
    description: 'largest accepted insight event, in bytes of JSON; a request with a larger one is answered 400 and nothing of it is kept' },
  { field: 'insightsLocalMaxBytes', name: 'INSIGHTS_LOCAL_MAX_BYTES', type: 'integer', default: 1_073_741_824,
    description: '`local` insights: bound of what is kept (the NDJSON files, or the bodies in the SQLite file), in bytes; past it new insights are refused (counted) until retention frees space' },
  { field: 'sdkBodyLimitBytes', name: 'SDK_BODY_LIMIT_BYTES', type: 'integer', default: 1_048_576,
    description: 'largest request body of the SDK, OFREP and insight endpoints (and every route but the bootstrap); larger → 413' },
  { field: 'bootstrapBodyLimitBytes', name: 'BOOTSTRAP_BODY_LIMIT_BYTES', type: 'integer', default: 67_108_864,
    description: 'largest admin bootstrap body; read only after the relay proxy key is checked' },
  { field: 'redisCommandTimeoutMs', name: 'REDIS_COMMAND_TIMEOUT_MS', type: 'integer', default: 2000,
    description: 'Redis: bound of every command; a hung Redis never blocks a request (pods serve from memory)' },
  { field: 'reconcileIntervalSeconds', name: 'RECONCILE_INTERVAL_SECONDS', type: 'integer', default: 10,
    description: 'Redis: how often each pod compares its copy with Redis and catches up on changes it missed' },
  { field: 'redisUsername', name: 'REDIS_USERNAME', type: 'string', description: 'Redis ACL user (overrides the URL\'s)' },
  { field: 'redisPassword', name: 'REDIS_PASSWORD', type: 'string', secret: true, description: 'Redis password (overrides the URL\'s; never logged)' },
  { field: 'redisTlsCaFile', name: 'REDIS_TLS_CA_FILE', type: 'string', description: 'Redis TLS: PEM file of the CA that signed the server certificate (turns TLS on)' },
  { field: 'redisTlsCertFile', name: 'REDIS_TLS_CERT_FILE', type: 'string', description: 'Redis mutual TLS: client certificate (PEM)' },
  { field: 'redisTlsKeyFile', name: 'REDIS_TLS_KEY_FILE', type: 'string', description: 'Redis mutual TLS: client private key (PEM)' },
  { field: 'redisTlsServername', name: 'REDIS_TLS_SERVERNAME', type: 'string', description: 'Redis TLS: name the server certificate must carry, when it differs from the host' },
  { field: 'redisSentinels', name: 'REDIS_SENTINELS', type: 'string', description: 'Redis Sentinel: `host:port,...` of the sentinels (instead of `REDIS_URL`)' },
  { field: 'redisSentinelMaster', name: 'REDIS_SENTINEL_MASTER', type: 'string', description: 'Redis Sentinel: name of the monitored master' },
  { field: 'redisSentinelPassword', name: 'REDIS_SENTINEL_PASSWORD', type: 'string', secret: true, description: 'Redis Sentinel: password of the sentinels themselves' },
  { field: 'redisClusterNodes', name: 'REDIS_CLUSTER_NODES', type: 'string',
    description: 'Redis Cluster: `host:port,...` of some nodes (instead of `REDIS_URL`); keys carry one hash tag per prefix' },
  { field: 'rateLimitPerSecond', name: 'RATE_LIMIT_PER_SECOND', type: 'integer', default: 1000,
    description: 'HTTP: tokens per second one client (IP address + the secret it presents) gets for the SDK, OFREP and insight endpoints (a request costs 1, one evaluating every flag for its user 10, +1 per 32 KiB of body); without tokens → 429 with Retry-After. `0` turns the limit off' },
  { field: 'rateLimitBurst', name: 'RATE_LIMIT_BURST', type: 'integer', default: 1000,
    description: 'HTTP: tokens one client may spend at once (the size of its token bucket, refilled at `RATE_LIMIT_PER_SECOND`)' },
  { field: 'refusalsPerSecond', name: 'REFUSALS_PER_SECOND', type: 'integer', default: 10,
    description: 'Refusals (HTTP 401/403/413/429 of the SDK, OFREP and insight routes, refused WebSocket upgrades) one client address gets answered at once per second; past the burst each is held about 1 s (jittered) with its connection paused, so a client looping on refusals costs one answer per connection a second. `0` answers every refusal at once' },
  { field: 'refusalBurst', name: 'REFUSAL_BURST', type: 'integer', default: 20,
    description: 'Refusals one client address gets answered at once before `REFUSALS_PER_SECOND` applies' },
  { field: 'firstRequestTimeoutSeconds', name: 'HTTP_FIRST_REQUEST_TIMEOUT_SECONDS', type: 'integer', default: 10,
    description: 'HTTP: a new connection that sends nothing for this long before its first request (or WebSocket upgrade) is closed, so connections opened and left silent cannot hold descriptors; after the first request, idle keep-alive connections close after 72 s. `0` turns it off' },
  { field: 'httpMaxConnections', name: 'HTTP_MAX_CONNECTIONS', type: 'integer', default: 40_000,
    description: 'Open TCP connections of every kind (HTTP keep-alive and WebSocket alike); past it a new connection is closed as soon as it is accepted (counted and logged), so connections held open cannot exhaust memory or descriptors. Keep it above `MAX_CONNECTIONS`; `0` turns it off' },
  { field: 'trustProxy', name: 'TRUST_PROXY', type: 'string', default: 'false',
    description: 'HTTP: which proxies\' `X-Forwarded-For` names the client (rate-limit key, logs): `false`, `true` (any peer), or comma-separated addresses/CIDRs of your ingress or load balancer' },
  { field: 'wsUpgradesPerSecond', name: 'WS_UPGRADES_PER_SECOND', type: 'integer', default: 0,
    description: 'WebSocket: sustained upgrades per second one client address may open (token bucket, address as `TRUST_PROXY` reads it); past the burst → 429 before the upgrade (held like other refusals past `REFUSAL_BURST`). `0` (default) turns it off' },
  { field: 'wsUpgradeBurst', name: 'WS_UPGRADE_BURST', type: 'integer', default: 200,
    description: 'WebSocket: upgrades one client address may open at once before `WS_UPGRADES_PER_SECOND` applies' },
] as const satisfies readonly Setting[];

export type SettingName = (typeof SETTINGS)[number]['name'];

/** The declaration of one setting, by variable name. */
export function setting(name: SettingName): Setting {
  const found = SETTINGS.find((s) => s.name === name);
  if (found === undefined) throw new Error(`unknown setting ${name}`);
  return found;
}

/** Every name a setting answers to, upper-cased: ours and the aliases. */
export function namesOf(s: Setting): string[] {
  return [s.name, ...(s.aliases ?? [])].map((n) => n.toUpperCase());
}

function defaultOf(s: Setting): string {
  if (s.defaultText !== undefined) return s.defaultText;
  if (s.default === undefined || s.default === '') return '–';
  return `\`${String(s.default)}\``;
}

/** The README's configuration table (the test keeps the README equal to it). */
export function settingsMarkdownTable(): string {
  const rows = SETTINGS.map((s: Setting) => {
    const aliases = (s.aliases ?? []).map((a) => `\`${a}\``).join(', ') || '–';
    return `| \`${s.name}\` | ${defaultOf(s)} | ${s.description} | ${aliases} |`;
  });
  return ['| variable | default | meaning | also read as (C# agent) |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** `--help`: every setting with its type, default and meaning. */
export function settingsHelp(): string {
  const lines = ['Settings are read from environment variables (names are case-insensitive):', ''];
  for (const s of SETTINGS as readonly Setting[]) {
    const type = s.type === 'enum' ? (s.values ?? []).join('|') : s.type;
    const aliases = s.aliases && s.aliases.length > 0 ? ` (also ${s.aliases.join(', ')})` : '';
    lines.push(`  ${s.name}${aliases}`);
    lines.push(`      ${type}; default ${defaultOf(s).replaceAll('`', '')}${s.secret ? '; secret' : ''}`);
    lines.push(`      ${s.description.replaceAll('`', '')}`);
  }
  return lines.join('\n');
}
