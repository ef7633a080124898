import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { ConnectionRegistry } from '../streaming/connection-registry.js';
import { PushService } from '../streaming/push.service.js';
import { SyncStatusService, type SyncState } from '../status/sync-status.service.js';
import { InsightsService } from '../insights/insights.service.js';
import { agentVersion } from '../common/version.js';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { REGEX_SKIP_REASONS, onRegexProblem, regexStats } from '../evaluation/regex.js';
import { HttpDurations } from './http-durations.js';
import { SdkHttpGate } from '../sdk/sdk-http-gate.js';

const STATES: SyncState[] = ['None', 'Starting', 'Stable', 'Interrupted', 'Stopped'];

/** The agent's routes, as metric labels; anything else is `other` (bounded cardinality). */
const ROUTES = [
  '/api/public/sdk/server/latest-all',
  '/api/public/sdk/client/latest-all',
  '/api/public/insight/track',
  '/api/public/proxy/status',
  '/api/public/proxy/bootstrap',
  '/api/public/proxy/backup',
  '/api/public/proxy/insights',
  '/ofrep/v1/evaluate/flags',
  '/ofrep/v1/events',
  '/health/liveness',
  '/health/readiness',
  '/metrics',
  '/status.json',
  '/streaming',
  '/',
];

function routeOf(url: string | undefined): string {
  const path = (url ?? '').split('?', 1)[0]!.toLowerCase().replace(/\/+$/, '') || '/';
  if (path.startsWith('/ofrep/v1/evaluate/flags/')) return '/ofrep/v1/evaluate/flags/:key';
  if (path.startsWith('/api/proxy/')) return path.replace('/api/proxy/', '/api/public/proxy/');
  return ROUTES.includes(path) ? path : 'other';
}

/**
 * Prometheus metrics of this agent, in a registry of its own. Labels carry environment ids, SDK
 * types, routes and states — never a secret, key or user.
 */
@Injectable()
export class MetricsService implements OnModuleInit, OnModuleDestroy {
  readonly registry = new Registry();
  private pushed = 0;
  private stopRegexLog?: () => void;
  readonly fanOut = new Histogram({
    name: 'featbit_agent_fanout_duration_seconds',
    help: 'From a change being stored to its last frame handed to an SDK socket',
    labelNames: ['sdk_type'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly httpDuration = new HttpDurations();

  constructor(
    private readonly connections: ConnectionRegistry,
    private readonly pushes: PushService,
    private readonly sync: SyncStatusService,
    private readonly insights: InsightsService,
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    private readonly http: HttpAdapterHost,
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
    private readonly gate: SdkHttpGate,
  ) {}

  /**
   * HTTP durations, measured when the response is handed to the socket (fastify's onSend). An
   * onResponse hook, even an empty one, waits on each response's 'finish' event and cost a fifth of
   * polling throughput here; onSend runs inline. The route label comes from the matched route's
   * template, mapped once per template; only unmatched requests (404s, preflights) parse the URL.
   */
  private observeHttp(): void {
    const fastify = this.http.httpAdapter.getInstance<FastifyInstance>();
    this.registry.registerMetric(this.httpDuration as unknown as Metric);
    const labels = new Map<string, string>();
    fastify.addHook('onSend', (request, reply, payload, done) => {
      const template = request.routeOptions.url;
      let route = template === undefined ? routeOf(request.url) : labels.get(template);
      if (route === undefined) {
        route = routeOf(template);
        labels.set(template ?? '', route);
      }
      this.httpDuration.observe(route, request.method, reply.statusCode, reply.elapsedTime / 1000);
      done(null, payload);
    });
  }

  /**
   * Regex conditions that could not run (evaluation/regex.ts): counted per evaluation, logged once
   * per flag or segment and pattern. The evaluator has no Nest; it offers a hook and counters.
   */
  /** A counter labelled by `reason` mirroring monotonic totals that their owner keeps. */
  private mirrorByReason(name: string, help: string, read: () => Record<string, number>): void {
    new Counter({
      name,
      help,
      labelNames: ['reason'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [reason, total] of Object.entries(read())) this.inc({ reason }, total);
      },
    });
  }

  private observeRegex(): void {
    const logger = new Logger('Evaluation');
    this.stopRegexLog = onRegexProblem((p) => logger.warn(`MatchRegex/NotMatchRegex in ${p.owner} is always false: ${p.reason} (${p.detail}); pattern ${JSON.stringify(p.pattern.slice(0, 200))}`));
    this.mirrorByReason('featbit_agent_regex_unsupported_total', 'Regex conditions evaluated as false because the pattern cannot run on RE2 or the input was too long, by reason', () =>
      Object.fromEntries(REGEX_SKIP_REASONS.map((reason) => [reason, regexStats.skipped.get(reason) ?? 0])),
    );
  }

  onModuleDestroy(): void {
    this.stopRegexLog?.();
  }

  onModuleInit(): void {
    const { connections, sync, store, insights, config } = this;
    // Standard names (process_*, nodejs_*), so stock Node.js dashboards work unchanged.
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'featbit_agent_build_info',
      help: 'Always 1; the labels say which agent this is',
      labelNames: ['version', 'node_version', 'mode', 'store', 'insights_mode'],
      registers: [this.registry],
    }).set({ version: agentVersion(), node_version: process.version, mode: this.config.mode, store: this.config.store.type, insights_mode: this.config.insightsMode }, 1);
    new Gauge({
      name: 'featbit_agent_leader',
      help: '1 while this process syncs upstream for its cluster (or alone), 0 while it follows',
      registers: [this.registry],
      collect() {
        this.set(sync.role === 'follower' || config.mode !== 'agent' ? 0 : 1);
      },
    });
    this.pushes.onFanOut((record) => {
      this.fanOut.observe({ sdk_type: record.type }, record.ms / 1000);
      this.pushed += record.sockets;
    });
    this.observeHttp();
    const read = (): number => this.pushed;
    new Counter({
      name: 'featbit_agent_messages_in_total',
      help: 'WebSocket messages received from SDKs, by message type',
      labelNames: ['type'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [type, count] of connections.messagesIn) this.inc({ type }, count);
      },
    });
    new Counter({
      name: 'featbit_agent_messages_out_total',
      help: 'WebSocket messages sent to SDKs: replies to requests, and pushes of changes',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc({ kind: 'reply' }, connections.repliesOut);
        this.inc({ kind: 'push' }, read());
      },
    });
    this.mirrorByReason(
      'featbit_agent_websocket_bounded_total',
      'WebSocket bounds that acted: upgrades refused (max_connections, upgrade_rate), sockets closed or terminated (rate_limit, ping_timeout, slow_consumer, inbound_budget, outbound_budget), users ignored (user_too_large)',
      () => Object.fromEntries(connections.bounded),
    );
    new Gauge({
      name: 'featbit_agent_connections',
      help: 'Open SDK WebSocket connections by SDK type and environment id',
      labelNames: ['sdk_type', 'env_id'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const envId of connections.envIds()) {
          for (const type of ['server', 'client'] as const) this.set({ sdk_type: type, env_id: envId }, connections.of(envId, type).size);
        }
      },
    });
    new Gauge({
      name: 'featbit_agent_sync_state',
      help: 'Upstream synchronizer state (1 for the current one)',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        for (const state of STATES) this.set({ state }, sync.state === state ? 1 : 0);
      },
    });
    new Gauge({
      name: 'featbit_agent_data_age_seconds',
      help: 'Seconds since data last arrived (-1 before any)',
      registers: [this.registry],
      collect() {
        this.set(sync.dataAgeSeconds() ?? -1);
      },
    });
    new Gauge({
      name: 'featbit_agent_data_version',
      help: 'Largest item timestamp stored (ms)',
      registers: [this.registry],
      collect() {
        this.set(store.data.dataVersion);
      },
    });
    new Gauge({
      name: 'featbit_agent_store_up',
      help: '1 when the store backend answers, 0 when it does not',
      registers: [this.registry],
      async collect() {
        this.set(await store.ping().then(() => 1, () => 0));
      },
    });
    new Gauge({
      name: 'featbit_agent_store_degraded',
      help: '1 while the store backend refuses writes (disk full, I/O error, no usable file) and memory serves data newer than it',
      registers: [this.registry],
      collect() {
        this.set(store.persistence?.state === 'degraded' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'featbit_agent_store_stale',
      help: 'Shared store: 1 when this pod\'s copy may differ from the store (changes not written back, or not compared lately)',
      registers: [this.registry],
      collect() {
        this.set(store.health?.().stale ? 1 : 0);
      },
    });
    new Gauge({
      name: 'featbit_agent_store_state',
      help: 'Shared store: 1 for the current state (ok, unreachable, timing-out)',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const state = store.health?.().state ?? 'ok';
        for (const s of ['ok', 'unreachable', 'timing-out']) this.set({ state: s }, s === state ? 1 : 0);
      },
    });
    new Gauge({
      name: 'featbit_agent_store_last_reconcile_age_seconds',
      help: 'Shared store: seconds since this pod last confirmed its copy equals the store (-1 before any)',
      registers: [this.registry],
      collect() {
        this.set(store.health?.().lastReconcileAgeSeconds ?? -1);
      },
    });
    new Gauge({
      name: 'featbit_agent_insight_queue_depth',
      help: 'Insights waiting to be forwarded',
      registers: [this.registry],
      async collect() {
        this.set(await insights.queue.depth().catch(() => -1));
      },
    });
    const gate = this.gate;
    this.mirrorByReason('featbit_agent_http_refused_total', 'SDK and OFREP requests refused before their handler: unknown_secret (401), client_secret_on_server (403); 429s are featbit_agent_http_rate_limited_total', () => ({
      unknown_secret: gate.refused.unknownSecret,
      client_secret_on_server: gate.refused.clientSecretOnServer,
    }));
    const insightStats = (): Record<string, number> => ({ ...insights.forwarder?.stats });
    // Monotonic totals kept by their owners; each counter mirrors one.
    const totals: [string, string, () => number][] = [
      ['featbit_agent_http_rate_limited_total', 'SDK, OFREP and insight requests answered 429 by the per-client rate limit (RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST)', () => gate.refused.rateLimited],
      ['featbit_agent_connections_dropped_total', 'TCP connections closed as soon as accepted because HTTP_MAX_CONNECTIONS connections (HTTP and WebSocket) were open', () => gate.connectionsDropped],
      ['featbit_agent_refusals_held_total', 'Refusals (HTTP 401/403/413/429, refused WebSocket upgrades) held a second before their answer because their client was past its refusal budget', () => gate.tarpit.held],
      ['featbit_agent_insights_accepted_total', 'Insights accepted from SDKs', () => insights.accepted],
      ['featbit_agent_insights_forwarded_total', 'Insights delivered to FeatBit', () => insights.forwarder?.stats.forwarded ?? 0],
      ['featbit_agent_insights_retried_total', 'Insight deliveries retried', () => insights.forwarder?.stats.retried ?? 0],
      ['featbit_agent_insights_rejected_total', 'Insights FeatBit refused for good (4xx), dropped', () => insights.forwarder?.stats.rejected ?? 0],
      ['featbit_agent_insights_dropped_total', 'Insights dropped because the queue was full', () => insights.queue.dropped],
      ['featbit_agent_insights_split_total', 'Insight groups split in two after FeatBit answered 413 or refused them (bisection)', () => insightStats()['splits'] ?? 0],
      ['featbit_agent_insights_ack_retries_total', 'Failed acknowledgements of delivered insights, retried (not re-sent)', () => insightStats()['ackRetries'] ?? 0],
      ['featbit_agent_upstream_reconnects_total', 'Upstream connections to FeatBit that closed and were retried', () => sync.reconnects],
      ['featbit_agent_store_write_failures_total', 'Writes the store backend refused (each failed attempt, retries included)', () => store.persistence?.writeFailures ?? 0],
      ['featbit_agent_store_timeouts_total', 'Shared store commands that timed out', () => store.health?.().timeouts ?? 0],
      ['featbit_agent_upstream_items_skipped_total', 'Invalid flags, segments and secrets received from FeatBit and left out (the rest of each message was applied)', () => sync.upstreamItemsSkipped],
      ['featbit_agent_insights_lost_total', 'Insights lost: memory queue not delivered within the drain bound, or local files full', () => (insightStats()['lostOnShutdown'] ?? 0) + insights.local.dropped],
    ];
    this.observeRegex();
    for (const [name, help, read] of totals) {
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          // The owners keep monotonic totals; the counter mirrors them.
          this.reset();
          this.inc(read());
        },
      });
    }
    this.mirrorByReason('featbit_agent_insights_refused_total', 'Insight requests refused at intake: unknown_secret (401: a malformed secret, or once data is held one this agent does not hold), too_large (an event over INSIGHTS_MAX_EVENT_BYTES)', () => ({
      unknown_secret: insights.refused.unknownSecret + gate.refused.insightUnknownSecret,
      too_large: insights.refused.tooLarge,
    }));
    new Gauge({
      name: 'featbit_agent_insight_queue_bytes',
      help: 'Bytes of insights waiting to be forwarded, as INSIGHTS_MAX_QUEUE_BYTES counts them',
      registers: [this.registry],
      async collect() {
        this.set(await insights.queue.bytes().catch(() => -1));
      },
    });
    new Gauge({
      name: 'featbit_agent_insights_state',
      help: 'Insight forwarding state (1 for the current one); Unhealthy while FeatBit refuses insights with 401/403/404 (they stay queued)',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        for (const state of ['Healthy', 'Unhealthy', 'Off']) this.set({ state }, sync.insights.state === state ? 1 : 0);
      },
    });
  }
}
