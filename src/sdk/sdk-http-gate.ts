import { Inject, Injectable, Logger } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { problemJson } from '../common/problem.filter.js';
import { maskSecret } from '../common/mask.js';
import { ThrottledLog } from '../insights/insight-queue.js';
import { Tarpit, TokenBuckets, clientBucketOf } from '../common/token-buckets.js';
import { REFUSAL_DETAIL, findSdkSecret, ofrepSecretOf, singleHeader } from './sdk-auth.js';

/**
 * What the gate does on a route: `server` and `client` authenticate (server secrets only, or any
 * held secret), `insight` refuses what the insight intake would (a malformed secret; once data is
 * held, a secret it does not hold; before the first data any well-formed secret passes), `limit`
 * only rate-limits (the OFREP event stream authenticates with a token).
 */
type Gate = 'server' | 'client' | 'ofrep' | 'insight' | 'limit';

/**
 * Rate-limit tokens of a request that evaluates every flag for its user (client latest-all, OFREP
 * bulk): such a request costs about ten times the CPU of a cached answer or a queued insight
 * (measured: about 0.3 ms against 0.03 ms), and a public client secret must not buy ten times the
 * agent's time for the same budget.
 */
const EVALUATION_COST = 10;

/**
 * The routes SDKs call, by route template, with what the gate does and the tokens a request
 * costs. Health, metrics, the status page and the admin API are not limited: probes and scrapers
 * poll them from one address, and the admin API has its key.
 */
const GATES: Record<string, { gate: Gate; cost: number }> = {
  '/api/public/sdk/server/latest-all': { gate: 'server', cost: 1 },
  '/api/public/sdk/client/latest-all': { gate: 'client', cost: EVALUATION_COST },
  '/ofrep/v1/evaluate/flags': { gate: 'ofrep', cost: EVALUATION_COST },
  '/ofrep/v1/evaluate/flags/:key': { gate: 'ofrep', cost: 1 },
  '/ofrep/v1/events': { gate: 'limit', cost: 1 },
  '/api/public/insight/track': { gate: 'insight', cost: 1 },
};

const PROBLEM = 'application/problem+json';
const UNAUTHORIZED = { malformed: problemJson(401, REFUSAL_DETAIL.malformed), unknown: problemJson(401, REFUSAL_DETAIL.unknown) };
const FORBIDDEN = problemJson(403, REFUSAL_DETAIL.clientOnServer);
/** The 429 bodies of the first minute's Retry-After values, built once. */
const TOO_MANY = Array.from({ length: 61 }, (_, seconds) => problemJson(429, `too many requests from this client; retry in ${seconds} s`));
/** A refused request with a larger body (or a chunked one) closes its connection rather than have the body read. */
const KEEP_ALIVE_BODY_BYTES = 16 * 1024;
/**
 * A request costs its route's tokens and one more per this many declared body bytes: parsing and
 * evaluating a 1 MiB user costs dozens of small requests, and the budget says so.
 */
const COST_BYTES = 32 * 1024;

/**
 * Cheap answers for the routes SDKs call (issue 11), on `onRequest`, before the body is read and
 * before Nest: a per-client rate limit (token buckets keyed on the client address and the secret
 * it presents, a request's cost set by its route and its body), and the 401/403 of unknown secrets
 * and of client secrets on server routes from precomputed problem documents. A refusal through
 * Nest's exception machinery (an error object with its stack, the filter chain) cost several
 * times the request itself; a flood of them was as heavy as a flood of real work. Refusals past a
 * client's refusal budget are held (the tarpit), so a refused client looping on its connections
 * cannot make refusals its own flood. The handlers still authenticate: the gate only answers early
 * what they would answer. CORS headers come from the first `onRequest` hook (common/cors.ts).
 */
@Injectable()
export class SdkHttpGate {
  private readonly logger = new Logger(SdkHttpGate.name);
  private readonly limitLog = new ThrottledLog(
    this.logger,
    'HTTP rate limit: requests answered 429 (RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST); if the client named is your proxy, set TRUST_PROXY',
  );
  /** The 413 body per route body limit. */
  private readonly tooLarge = new Map<number, string>();
  private readonly connectionsLog = new ThrottledLog(
    this.logger,
    'HTTP_MAX_CONNECTIONS reached: new connections closed as soon as accepted (counted in featbit_agent_connections_dropped_total)',
  );
  /** Requests answered by the gate, by reason (monotonic). */
  readonly refused = { rateLimited: 0, unknownSecret: 0, clientSecretOnServer: 0, insightUnknownSecret: 0 };
  /** Connections node closed at once because HTTP_MAX_CONNECTIONS were open (monotonic). */
  connectionsDropped = 0;
  private readonly maxConnections: number;

  /** Per-client token buckets (RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST); none when the limit is off. */
  private readonly buckets?: TokenBuckets;
  /** Refusals past a client's refusal budget wait before their answer (connection paused). */
  readonly tarpit: Tarpit;

  constructor(
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    @Inject(AGENT_CONFIG) config: AgentConfig,
  ) {
    const { rateLimitPerSecond: rate, rateLimitBurst: burst, refusalsPerSecond, refusalBurst } = config.http;
    if (rate > 0) this.buckets = new TokenBuckets(rate, burst);
    this.tarpit = new Tarpit(refusalsPerSecond, refusalBurst);
    this.maxConnections = config.http.maxConnections;
  }

  /**
   * Adds the gate's hook to the routes above. Call after `NestFactory.create` and before
   * `app.init()` (Nest registers its routes there).
   */
  register(fastify: FastifyInstance): void {
    // HTTP_MAX_CONNECTIONS: node closes a connection as soon as it is accepted while this many are
    // open (keep-alive and upgraded alike), before any of its bytes are read or buffers allocated.
    // Without it, connections held open (one request a minute keeps one past the keep-alive
    // timeout) grew memory and descriptors without a bound, where MAX_CONNECTIONS counts
    // WebSockets only.
    if (this.maxConnections > 0) {
      fastify.server.maxConnections = this.maxConnections;
      fastify.server.on('drop', () => {
        this.connectionsDropped++;
        this.connectionsLog.add(1, { maxConnections: this.maxConnections });
      });
    }
    fastify.addHook('onRoute', (route) => {
      const gated = GATES[route.url.toLowerCase().replace(/\/+$/, '')];
      if (gated === undefined) return;
      const hook = this.hook(gated.gate, gated.cost);
      const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
      route.onRequest = [...existing, hook];
    });
  }

  /**
   * One client: its address (the proxy's view with TRUST_PROXY; an IPv6 client by its /64) and
   * the secret it presents when this agent holds it, so one page flooding with a public client
   * secret leaves server SDKs and other environments behind the same address alone. Unknown or
   * absent secrets share one bucket per address: an attacker inventing secrets gets no fresh
   * budget, and keys stay bounded.
   */
  private clientKey(request: FastifyRequest): string {
    const headers = request.headers;
    const presented = singleHeader(headers.authorization) ?? singleHeader(headers['x-api-key']);
    let secret = presented === undefined ? undefined : this.store.data.secret(presented)?.value;
    if (secret === undefined && presented !== undefined) secret = this.store.data.secret(ofrepSecretOf(presented, undefined) ?? '')?.value;
    return `${clientBucketOf(request.ip)} ${secret ?? '?'}`;
  }

  private hook(gate: Gate, cost: number): onRequestHookHandler {
    const check = (request: FastifyRequest, reply: FastifyReply): boolean => {
      if (gate === 'limit') return true;
      const data = this.store.data;
      const headers = request.headers;
      if (gate === 'insight') {
        const found = findSdkSecret(data, headers.authorization);
        if (found !== 'malformed' && (found !== 'unknown' || !data.isPopulated)) return true;
        // Counted with the intake's own refusals (featbit_agent_insights_refused_total).
        this.refused.insightUnknownSecret++;
        this.refuse(request, reply, 401, UNAUTHORIZED[found]);
        return false;
      }
      const found =
        gate === 'ofrep'
          ? findSdkSecret(data, ofrepSecretOf(singleHeader(headers.authorization), singleHeader(headers['x-api-key'])))
          : findSdkSecret(data, headers.authorization);
      if (typeof found === 'string') {
        this.refused.unknownSecret++;
        this.refuse(request, reply, 401, UNAUTHORIZED[found]);
        return false;
      }
      if (gate === 'server' && found.type !== 'server') {
        this.refused.clientSecretOnServer++;
        this.refuse(request, reply, 403, FORBIDDEN);
        return false;
      }
      return true;
    };
    return (request, reply, done) => {
      if (this.fits(request, reply) && this.withinRate(request, reply, cost) && check(request, reply)) done();
    };
  }

  /**
   * Takes the request's tokens (the route's cost, one more per COST_BYTES of declared body) from
   * its client's bucket, or answers 429 with Retry-After.
   */
  private withinRate(request: FastifyRequest, reply: FastifyReply, routeCost: number): boolean {
    if (this.buckets === undefined) return true;
    const length = Number(request.headers['content-length'] ?? 0);
    const cost = routeCost + (length > 0 ? Math.floor(length / COST_BYTES) : 0);
    const waitMs = this.buckets.take(this.clientKey(request), Date.now(), cost);
    if (waitMs === 0) return true;
    this.refused.rateLimited++;
    this.limitLog.add(1, { client: request.ip, secret: maskSecret(singleHeader(request.headers.authorization)) });
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    void reply.header('retry-after', String(seconds));
    this.refuse(request, reply, 429, TOO_MANY[seconds] ?? problemJson(429, `too many requests from this client; retry in ${seconds} s`));
    return false;
  }

  /**
   * A declared body over the route's limit gets the parser's 413 at once, closing the connection:
   * fastify would refuse it from the same header, through Nest's exception filter.
   */
  private fits(request: FastifyRequest, reply: FastifyReply): boolean {
    const length = request.headers['content-length'];
    const limit = request.routeOptions.bodyLimit;
    if (length === undefined || limit === undefined || !(Number(length) > limit)) return true;
    let body = this.tooLarge.get(limit);
    if (body === undefined) this.tooLarge.set(limit, (body = problemJson(413, `request body larger than the ${limit} bytes this route accepts`)));
    this.refuse(request, reply, 413, body, true);
    return false;
  }

  /**
   * Answers a refusal: at once while the client is within its refusal budget, else after the
   * tarpit's hold with the connection paused. Node discards an unread body to keep the
   * connection; a large or unbounded one (or `close`) closes it instead (a small one costs less to
   * skip than a new connection).
   */
  private refuse(request: FastifyRequest, reply: FastifyReply, status: number, body: string, close = false): void {
    const length = request.headers['content-length'];
    const closing = close || (length !== undefined && Number(length) > KEEP_ALIVE_BODY_BYTES) || request.headers['transfer-encoding'] !== undefined;
    if (closing) closeUnread(request, reply);
    // A kept connection reads on after a held answer (Node discards the small body); a closing one ends unread.
    this.tarpit.answer(request.ip, request.raw.socket, () => {
      if (!request.raw.destroyed) void reply.code(status).header('content-type', PROBLEM).send(body);
    }, !closing);
  }
}

/**
 * Closes the connection once the answer is handed to the kernel, without reading the body: Node
 * would otherwise read and discard it until the close, megabytes per request from a client that
 * keeps writing, and those buffers drove V8 into back-to-back full collections.
 */
function closeUnread(request: FastifyRequest, reply: FastifyReply): void {
  void reply.header('connection', 'close');
  const socket = request.raw.socket;
  // No more reads: the answer is written while the client may still be sending.
  socket.pause();
  reply.raw.once('finish', () => socket.destroy());
}
