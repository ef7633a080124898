import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { ConnectionRegistry } from '../streaming/connection-registry.js';
import { PushService } from '../streaming/push.service.js';
import { SyncStatusService, type SyncState } from '../status/sync-status.service.js';
import { InsightsService } from '../insights/insights.service.js';

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
export class MetricsService implements OnModuleInit {
  readonly registry = new Registry();
  private pushed = 0;
  readonly fanOut = new Histogram({
    name: 'featbit_agent_fanout_duration_seconds',
    help: 'From a change being stored to its last frame handed to an SDK socket',
    labelNames: ['sdk_type'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'featbit_agent_http_request_duration_seconds',
    help: 'HTTP request durations by route template',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor(
    private readonly connections: ConnectionRegistry,
    private readonly pushes: PushService,
    private readonly sync: SyncStatusService,
    private readonly insights: InsightsService,
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    private readonly http: HttpAdapterHost,
  ) {}

  /**
   * HTTP durations, measured when the response is handed to the socket (fastify's onSend). An
   * onResponse hook, even an empty one, waits on each response's 'finish' event and cost a fifth of
   * polling throughput here; onSend runs inline. Children per label set avoid hashing labels.
   */
  private observeHttp(): void {
    const fastify = this.http.httpAdapter.getInstance<FastifyInstance>();
    const children = new Map<string, { observe(value: number): void }>();
    fastify.addHook('onSend', (request, reply, payload, done) => {
      const route = routeOf(request.url);
      const key = `${request.method} ${route} ${reply.statusCode}`;
      let child = children.get(key);
      if (!child) {
        child = this.httpDuration.labels({ method: request.method, route, status: String(reply.statusCode) });
        children.set(key, child);
      }
      child.observe(reply.elapsedTime / 1000);
      done(null, payload);
    });
  }

  onModuleInit(): void {
    const { connections, sync, store, insights } = this;
    collectDefaultMetrics({ register: this.registry, prefix: 'featbit_agent_' });
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
    new Counter({
      name: 'featbit_agent_store_timeouts_total',
      help: 'Shared store commands that timed out',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(store.health?.().timeouts ?? 0);
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
    const totals: [string, string, () => number][] = [
      ['featbit_agent_insights_accepted_total', 'Insights accepted from SDKs', () => insights.accepted],
      ['featbit_agent_insights_forwarded_total', 'Insights delivered to FeatBit', () => insights.forwarder?.stats.forwarded ?? 0],
      ['featbit_agent_insights_retried_total', 'Insight deliveries retried', () => insights.forwarder?.stats.retried ?? 0],
      ['featbit_agent_insights_rejected_total', 'Insights FeatBit refused for good (4xx), dropped', () => insights.forwarder?.stats.rejected ?? 0],
      ['featbit_agent_insights_dropped_total', 'Insights dropped because the queue was full', () => insights.queue.dropped],
    ];
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
  }
}
