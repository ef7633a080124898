import { Inject, Injectable, Logger } from '@nestjs/common';
import rateLimit, { normalizeIP, type CreateRateLimitOptions, type RateLimitPluginOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { problemJson } from '../common/problem.filter.js';
import { maskSecret } from '../common/mask.js';
import { ThrottledLog } from '../insights/insight-queue.js';
import { REFUSAL_DETAIL, findSdkSecret, ofrepSecretOf, singleHeader } from './sdk-auth.js';

/**
 * What the gate does on a route: `server` and `client` authenticate (server secrets only, or any
 * held secret), `limit` only rate-limits (the insight intake accepts well-formed secrets before the
 * first data, the OFREP event stream authenticates with a token).
 */
type Gate = 'server' | 'client' | 'ofrep' | 'limit';

/**
 * The routes SDKs call, by route template. Health, metrics, the status page and the admin API are
 * not limited: probes and scrapers poll them from one address, and the admin API has its key.
 */
const GATES: Record<string, Gate> = {
  '/api/public/sdk/server/latest-all': 'server',
  '/api/public/sdk/client/latest-all': 'client',
  '/ofrep/v1/evaluate/flags': 'ofrep',
  '/ofrep/v1/evaluate/flags/:key': 'ofrep',
  '/ofrep/v1/events': 'limit',
  '/api/public/insight/track': 'limit',
};

const PROBLEM = 'application/problem+json';
const UNAUTHORIZED = { malformed: problemJson(401, REFUSAL_DETAIL.malformed), unknown: problemJson(401, REFUSAL_DETAIL.unknown) };
const FORBIDDEN = problemJson(403, REFUSAL_DETAIL.clientOnServer);
/**
 * How long a 429 is held before it is sent (at most until the window ends): one connection gets at
 * most one refusal a second, while a held request costs only its timer.
 */
const TOO_MANY_DELAY_MS = 1000;
/** The 429 bodies of the first minute's Retry-After values, built once. */
const TOO_MANY = Array.from({ length: 61 }, (_, seconds) => problemJson(429, `too many requests from this client; retry in ${seconds} s`));
/** A refused request with a larger body (or a chunked one) closes its connection rather than have the body read. */
const KEEP_ALIVE_BODY_BYTES = 16 * 1024;
/** Rate-limit keys per store: past it the least recently seen client's count restarts. */
const RATE_LIMIT_CLIENTS = 20_000;

type RateLimiter = ReturnType<FastifyInstance['createRateLimit']>;

/**
 * Cheap answers for the routes SDKs call (issue 11), on `onRequest`, before the body is read and
 * before Nest: a per-client rate limit (`@fastify/rate-limit`, keyed on the client address and the
 * secret it presents), and the 401/403 of unknown secrets and of client secrets on server routes
 * from precomputed problem documents. A refusal through Nest's exception machinery (an error
 * object with its stack, the filter chain) cost several times the request itself; a flood of them
 * was as heavy as a flood of real work. The handlers still authenticate: the gate only answers
 * early what they would answer. CORS headers come from the first `onRequest` hook (common/cors.ts).
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
  /** Requests answered by the gate, by reason (monotonic). */
  readonly refused = { rateLimited: 0, unknownSecret: 0, clientSecretOnServer: 0 };

  constructor(
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
  ) {}

  /**
   * Registers the rate-limit plugin and the gate's hooks on the routes above. Call after
   * `NestFactory.create` and before `app.init()` (Nest registers its routes there).
   */
  async register(fastify: FastifyInstance): Promise<void> {
    const { rateLimitPerSecond: rate, rateLimitBurst: burst } = this.config.http;
    let limiter: RateLimiter | undefined;
    if (rate > 0) {
      // The plugin's own hooks stay off (global: false); the gate calls its limiter and answers.
      await fastify.register(rateLimit, { global: false } satisfies RateLimitPluginOptions);
      // `cache` (clients kept) is read by the store, though the options' type leaves it out.
      const options: CreateRateLimitOptions & { cache: number } = {
        max: burst,
        // A fixed window of `burst` requests: on average at most `rate` per second.
        timeWindow: Math.max(1, Math.round((burst / rate) * 1000)),
        keyGenerator: (request) => this.clientKey(request),
        cache: RATE_LIMIT_CLIENTS,
      };
      limiter = fastify.createRateLimit(options);
    }
    fastify.addHook('onRoute', (route) => {
      const gate = GATES[route.url.toLowerCase().replace(/\/+$/, '')];
      if (gate === undefined) return;
      const hook = this.hook(gate, limiter);
      const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
      route.onRequest = [...existing, hook];
    });
  }

  /**
   * One client: its address (the proxy's view with TRUST_PROXY) and the secret it presents when
   * this agent holds it, so one page flooding with a public client secret leaves server SDKs and
   * other environments behind the same address alone. Unknown or absent secrets share one bucket
   * per address: an attacker inventing secrets gets no fresh budget, and keys stay bounded.
   */
  private clientKey(request: FastifyRequest): string {
    const headers = request.headers;
    const presented = singleHeader(headers.authorization) ?? singleHeader(headers['x-api-key']);
    let secret = presented === undefined ? undefined : this.store.data.secret(presented)?.value;
    if (secret === undefined && presented !== undefined) secret = this.store.data.secret(ofrepSecretOf(presented, undefined) ?? '')?.value;
    // IPv6 clients own a /64 at least: one bucket per /64.
    const ip = request.ip.includes(':') ? normalizeIP(request.ip, 64) : request.ip;
    return `${ip} ${secret ?? '?'}`;
  }

  private hook(gate: Gate, limiter: RateLimiter | undefined): onRequestHookHandler {
    const check = (request: FastifyRequest, reply: FastifyReply): boolean => {
      if (gate === 'limit') return true;
      const data = this.store.data;
      const headers = request.headers;
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
    if (limiter === undefined) {
      return (request, reply, done) => {
        if (this.fits(request, reply) && check(request, reply)) done();
      };
    }
    return (request, reply, done) => {
      if (!this.fits(request, reply)) return;
      limiter(request).then(
        (limit) => {
          if (!limit.isAllowed && limit.isExceeded) {
            this.refused.rateLimited++;
            this.limitLog.add(1, { client: request.ip, secret: maskSecret(singleHeader(request.headers.authorization)) });
            // Held a moment before it is sent: a client looping on a few keep-alive connections
            // gets a few answers a second instead of thousands (each costing about a request).
            const delay = Math.max(0, Math.min(TOO_MANY_DELAY_MS, limit.ttl));
            const seconds = Math.max(1, Math.ceil((limit.ttl - delay) / 1000));
            const body = TOO_MANY[seconds] ?? problemJson(429, `too many requests from this client; retry in ${seconds} s`);
            void reply.header('retry-after', String(seconds));
            const timer = setTimeout(() => {
              if (!request.raw.destroyed) this.refuse(request, reply, 429, body);
            }, delay);
            timer.unref();
            return;
          }
          if (check(request, reply)) done();
        },
        (error: unknown) => done(error instanceof Error ? error : new Error(String(error))),
      );
    };
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
    closeUnread(request, reply);
    void reply.code(413).header('content-type', PROBLEM).send(body);
    return false;
  }

  /**
   * Answers now. Node discards an unread body to keep the connection; a large or unbounded one
   * closes it instead (a small one costs less to skip than a new connection).
   */
  private refuse(request: FastifyRequest, reply: FastifyReply, status: number, body: string): void {
    const length = request.headers['content-length'];
    if ((length !== undefined && Number(length) > KEEP_ALIVE_BODY_BYTES) || request.headers['transfer-encoding'] !== undefined) closeUnread(request, reply);
    void reply.code(status).header('content-type', PROBLEM).send(body);
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
