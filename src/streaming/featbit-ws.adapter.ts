import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { INestApplicationContext } from '@nestjs/common';
import { AbstractWsAdapter } from '@nestjs/websockets';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { StreamingLimits } from '../config/agent-config.js';
import type { BoundCounter } from './connection-registry.js';
import { SharedFrame, TimeSlice, heldBytes, sendText } from './fan-out.js';
import { CloseCode, CloseReason, parseInbound } from './protocol.js';
import { TokenBuckets, Tarpit, clientBucketOf } from '../common/token-buckets.js';
import { clientAddressResolver, type TrustProxy } from '../common/client-address.js';

/** Inbound messages up to this size are accepted (protocol §2.4 asks for at least 1 MiB). */
export const MAX_INBOUND_BYTES = 1024 * 1024;

/**
 * Where the adapter delivers each socket's messages and its close: the streaming gateway. The
 * adapter calls it directly instead of keeping Nest's per-socket handler table (an array with one
 * object and one bound function per message type, plus a disconnect closure, about 1.2 KB of
 * long-lived objects per socket); an attacker opening thousands of sockets made that garbage
 * collection's work.
 */
export interface StreamingHandler {
  /** One message (protocol §2.4) whose `messageType` is lower-cased; the reply, or undefined for none. */
  message(socket: WebSocket, messageType: string, data: unknown): string | SharedFrame | undefined;
  /** The socket closed (for any reason). */
  disconnected(socket: WebSocket): void;
}

function isStreamingPath(url: string | undefined, base: string): boolean {
  const path = (url ?? '').split('?', 1)[0] ?? '';
  return path === base || path.startsWith(`${base}/`);
}

function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

const logger = new Logger('FeatBitWsAdapter');
const GUARD = Symbol('featbit.guard');

/** Defaults of the settings (used when the adapter is built without config, e.g. by tools). */
export const DEFAULT_STREAMING_LIMITS: StreamingLimits = {
  maxBufferedBytes: 8 * 1024 * 1024,
  maxConnections: 20_000,
  messagesPerSecond: 20,
  messageBurst: 100,
  pingIntervalMs: 30_000,
  pingTimeoutMs: 20_000,
  maxUserBytes: 8192,
  maxUserProperties: 500,
  upgradesPerSecond: 0,
  upgradeBurst: 200,
  inboundBudgetBytes: 64 * 1024 * 1024,
  outboundBudgetBytes: 128 * 1024 * 1024,
};

/** What every socket of one adapter shares. */
interface Shared {
  readonly handler: StreamingHandler;
  readonly counter: BoundCounter;
  readonly limits: StreamingLimits;
  /** Inbound bytes held by all sockets, as last read from each (Guard.inbound). */
  inboundHeld: number;
}

/** Per-socket bookkeeping of the bounds: a few numbers, no closures. */
interface Guard {
  readonly shared: Shared;
  /** Token bucket of inbound messages (and client pings). */
  tokens: number;
  refilledAt: number;
  /** When the unanswered ping was sent; 0 when none is outstanding. */
  pingSentAt: number;
  /** Inbound bytes this socket's receiver held when last read (counted in Shared.inboundHeld). */
  inbound: number;
  readonly socket: RoutedSocket;
}

type RoutedSocket = WebSocket & { [GUARD]?: Guard };

/** ws's receiver: bytes read and not yet parsed, and the completed fragments of an unfinished message. */
interface ReceiverInternals {
  _bufferedBytes?: number;
  _messageLength?: number;
}

/** A socket holding at most this much inbound data is never closed by the inbound budget. */
const INBOUND_SMALL_BYTES = 64 * 1024;

/**
 * WS_INBOUND_BUDGET_BYTES. ws keeps an incomplete message (up to MAX_INBOUND_BYTES) until its last
 * byte arrives: 300 sockets each sending all but the last byte of a 1 MiB frame took the agent
 * from 149 to 457 MiB RSS, and MAX_CONNECTIONS sockets could hold 20 GiB. Each time a socket's
 * receiver takes data or yields a message, what it holds is re-read and the total updated; past
 * the budget, a socket holding more than INBOUND_SMALL_BYTES is closed with 1013 (an SDK's
 * messages are a few KiB).
 */
function accountInbound(guard: Guard): void {
  const receiver = (guard.socket as unknown as { _receiver?: ReceiverInternals })._receiver;
  const held = (receiver?._bufferedBytes ?? 0) + (receiver?._messageLength ?? 0);
  const shared = guard.shared;
  shared.inboundHeld += held - guard.inbound;
  guard.inbound = held;
  if (shared.inboundHeld <= shared.limits.inboundBudgetBytes || held <= INBOUND_SMALL_BYTES) return;
  shared.counter.countBound('inbound_budget');
  logger.debug({ msg: 'socket closed: WS_INBOUND_BUDGET_BYTES reached', held, total: shared.inboundHeld });
  releaseInbound(guard);
  guard.socket.close(CloseCode.TryAgainLater, CloseReason.InboundBudget);
  guard.socket.terminate();
}

function releaseInbound(guard: Guard): void {
  guard.shared.inboundHeld -= guard.inbound;
  guard.inbound = 0;
}

/** Bytes arrived on an upgraded socket (after ws's own listener took them). */
function onRawData(this: Duplex & { [GUARD]?: Guard }): void {
  const guard = this[GUARD];
  if (guard && guard.socket.readyState === guard.socket.OPEN) accountInbound(guard);
}

function destroySocket(this: Duplex): void {
  this.destroy();
}

/** The one error every upgraded socket destroyed without an error of its own is destroyed with. */
const SOCKET_DROPPED = Object.assign(new Error('WebSocket connection dropped'), { code: 'ERR_FEATBIT_SOCKET_DROPPED' });

/**
 * Replaces `destroy` on upgraded sockets: a destroy without an error (ws's `terminate()`, its
 * close timeout, the bounds here) while writes are still queued uses SOCKET_DROPPED; a socket
 * with nothing queued closes as before, without an error. Node fails every write still queued on
 * a destroyed stream with that stream's error, and builds a new ERR_STREAM_DESTROYED, stack trace
 * and all, for each one when there is none: dropping a socket that had stopped reading with
 * 150,000 small writes queued held the event loop for 0.9 s, with 466,000 for 2.7 s
 * (bench/slow-consumer.bench.ts). The error is emitted on the socket, where ws and the adapter
 * listen for errors.
 */
export function destroyWithSharedError(this: Duplex, error?: Error | null, callback?: (error: Error | null) => void): Duplex {
  const proto = Object.getPrototypeOf(this) as { destroy: (this: Duplex, error?: Error | null, callback?: (error: Error | null) => void) => Duplex };
  return proto.destroy.call(this, error ?? (this.writableLength > 0 ? SOCKET_DROPPED : error), callback);
}

function onSocketError(this: WebSocket, error: Error): void {
  logger.debug({ msg: 'socket error', err: error.message });
}

function onSocketMessage(this: RoutedSocket, data: RawData, isBinary: boolean): void {
  // Frames that arrive after a close was decided are dropped unparsed.
  if (this.readyState !== this.OPEN || !withinRate(this)) return;
  const guard = this[GUARD];
  if (guard && guard.inbound > 0) accountInbound(guard);
  route(this, data, isBinary);
}

function onSocketClose(this: RoutedSocket): void {
  const guard = this[GUARD];
  if (!guard) return;
  releaseInbound(guard);
  guard.shared.handler.disconnected(this);
}

/** Client-sent pings are answered by ws itself: they draw on the same bucket as messages. */
function onSocketPing(this: RoutedSocket): void {
  if (this.readyState === this.OPEN) withinRate(this);
}

/** Any sign of life from the peer settles the outstanding server ping. */
function onSocketPong(this: RoutedSocket): void {
  const guard = this[GUARD];
  if (guard) guard.pingSentAt = 0;
}

/**
 * Token bucket (messagesPerSecond, messageBurst). An SDK sends a ping every 18 s and a data-sync
 * per identify, so a socket past the bucket is misbehaving: it is closed with 1008 (policy
 * violation) rather than having its frames silently dropped, which would leave an SDK waiting.
 */
function withinRate(socket: RoutedSocket): boolean {
  const guard = socket[GUARD];
  if (!guard) return true;
  guard.pingSentAt = 0;
  const now = Date.now();
  const { messagesPerSecond, messageBurst } = guard.shared.limits;
  guard.tokens = Math.min(messageBurst, guard.tokens + ((now - guard.refilledAt) * messagesPerSecond) / 1000);
  guard.refilledAt = now;
  if (guard.tokens >= 1) {
    guard.tokens -= 1;
    return true;
  }
  guard.shared.counter.countBound('rate_limit');
  logger.debug({ msg: 'socket closed: message rate exceeded', perSecond: messagesPerSecond, burst: messageBurst });
  socket.close(CloseCode.PolicyViolation, CloseReason.RateExceeded);
  return false;
}

function route(socket: RoutedSocket, data: RawData, isBinary: boolean): void {
  const guard = socket[GUARD];
  if (isBinary || !guard) return;
  const message = parseInbound(textOf(data));
  if (!message) return;
  let result: string | SharedFrame | undefined;
  try {
    result = guard.shared.handler.message(socket, message.messageType, message.data);
  } catch (error) {
    logger.warn({ msg: 'message handler failed', messageType: message.messageType, err: String(error) });
    return;
  }
  if (result !== undefined) reply(socket, guard, result);
}

/**
 * Sends a handler's reply (a handler error sends nothing, protocol §2.4); empty strings are never
 * sent. Replies obey the same back-pressure bound as pushes: a socket that does not read is
 * dropped, not buffered for.
 */
function reply(client: RoutedSocket, guard: Guard, text: string | SharedFrame): void {
  if (client.readyState !== client.OPEN) return;
  if ((text instanceof SharedFrame ? text.payload : text).length === 0) return;
  sendText(client, text, guard.shared.limits.maxBufferedBytes, guard.shared.counter);
}

/**
 * Longest the handshakes of queued upgrades hold the event loop before other work (HTTP requests,
 * frames of open sockets) gets a turn. Upgrades arriving together (a reconnection storm, one
 * client opening sockets a hundred at a time) were handshaken back to back in one turn, about
 * 0.2 ms each: 20 ms and more during which no other request was answered.
 */
const UPGRADE_SLICE_MS = 5;
/** The answer to an upgrade while draining: SDKs retry, and a load balancer sends them to another agent. */
const DRAINING = 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
/** The heartbeat's slice: pinging 10,000 sockets takes tens of milliseconds, and no one waits for it. */
const HEARTBEAT_SLICE_MS = 5;

interface PendingUpgrade {
  server: WebSocketServer;
  request: IncomingMessage;
  socket: Duplex;
  head: Buffer;
}

/**
 * Nest WebSocket adapter for the FeatBit protocol. SDKs send `{messageType, data}`, so messages
 * are handed to the gateway (a StreamingHandler) by their lower-cased `messageType` instead of
 * Nest's `event`. Per socket it adds one small object and listeners shared by every socket (no
 * closures, no RxJS plumbing), keeping tens of thousands of idle sockets cheap.
 * Upgrades to `/streaming` and `/streaming/...` are accepted (protocol §2.1); others are dropped.
 */
export class FeatBitWsAdapter extends AbstractWsAdapter {
  private readonly logger = logger;
  private readonly servers: { server: WebSocketServer; path: string }[] = [];
  private upgradeListener?: (request: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Upgrades accepted and not yet handshaken, first come first served (`upgradeNext` is the next). */
  private pendingUpgrades: (PendingUpgrade | undefined)[] = [];
  private upgradeNext = 0;
  private upgradeTurn?: NodeJS.Immediate;
  private pingTimer?: NodeJS.Timeout;
  private readonly checkTimers = new Set<NodeJS.Timeout>();
  /** Set while draining: new upgrades are answered 503. */
  refusing = false;
  private refusedUpgrades = 0;

  private readonly upgradeLimiter?: TokenBuckets;
  private readonly clientAddress: (request: IncomingMessage) => string;
  private upgradesLimited = 0;
  private readonly shared: Shared;

  /**
   * `counter` (the connection registry) counts what the bounds did, for metrics; `trustProxy`
   * (TRUST_PROXY) says whose `X-Forwarded-For` names the client of an upgrade; `tarpit` holds
   * refusals past a client's budget.
   */
  constructor(
    appOrHttpServer: INestApplicationContext | object,
    handler: StreamingHandler,
    readonly limits: StreamingLimits = DEFAULT_STREAMING_LIMITS,
    private readonly counter: BoundCounter = { countBound: () => undefined },
    trustProxy: TrustProxy = false,
    /** Refused upgrades past a client's refusal budget wait before their answer (the HTTP gate's, shared). */
    private readonly tarpit = new Tarpit(),
  ) {
    super(appOrHttpServer);
    this.shared = { handler, counter, limits, inboundHeld: 0 };
    if (limits.upgradesPerSecond > 0) this.upgradeLimiter = new TokenBuckets(limits.upgradesPerSecond, limits.upgradeBurst);
    this.clientAddress = clientAddressResolver(trustProxy);
  }

  override create(_port: number, options?: { path?: string }): WebSocketServer {
    // allowSynchronousEvents: false makes ws emit one message (or ping, pong) of a socket per
    // turn of the event loop. With ws's default, every message of a read (up to 64 KiB, and libuv
    // reads a ready socket up to 32 times in a row) was handled before anything else ran: a
    // client that sent a burst of data-syncs, each evaluated for its user, held the event loop
    // for as long as its burst took (WS_MESSAGE_BURST of them), 150-300 ms at a burst of 10,000.
    const server = new WebSocketServer({ noServer: true, maxPayload: MAX_INBOUND_BYTES, perMessageDeflate: false, allowSynchronousEvents: false });
    server.on('error', (error) => this.logger.error({ msg: 'websocket server error', err: error }));
    const path = options?.path ?? '/streaming';
    this.servers.push({ server, path: path.endsWith('/') ? path.slice(0, -1) : path });
    this.listenForUpgrades();
    this.startPinging();
    return server;
  }

  /** Open sockets of every server, validated or not (each holds a descriptor and buffers). */
  get openSockets(): number {
    let open = 0;
    for (const { server } of this.servers) open += server.clients.size;
    return open;
  }

  /**
   * Server-side heartbeat with WebSocket ping frames (SDKs' WebSocket stacks answer them; no
   * FeatBit message is sent): every interval each socket without an outstanding ping gets one, and
   * a socket that has not answered (pong or any frame) within the timeout is terminated.
   */
  private startPinging(): void {
    if (this.pingTimer) return;
    this.pingTimer = setInterval(() => void this.pingAll(), this.limits.pingIntervalMs);
    this.pingTimer.unref();
  }

  private async pingAll(): Promise<void> {
    const sentAt = Date.now();
    // Nothing waits on a heartbeat: short slices keep other work's latency low.
    const slice = new TimeSlice(HEARTBEAT_SLICE_MS);
    for (const { server } of this.servers) {
      for (const socket of [...server.clients] as RoutedSocket[]) {
        const guard = socket[GUARD];
        if (!guard || guard.pingSentAt !== 0 || socket.readyState !== socket.OPEN) continue;
        if (heldBytes(socket) > this.limits.maxBufferedBytes) {
          socket.terminate();
          continue;
        }
        guard.pingSentAt = sentAt;
        try {
          socket.ping();
        } catch {
          socket.terminate();
        }
        const turn = slice.next();
        if (turn) await turn;
      }
    }
    const check = setTimeout(() => {
      this.checkTimers.delete(check);
      this.terminateUnanswered(sentAt);
    }, this.limits.pingTimeoutMs);
    check.unref();
    this.checkTimers.add(check);
  }

  private terminateUnanswered(sentAt: number): void {
    for (const { server } of this.servers) {
      for (const socket of server.clients as Set<RoutedSocket>) {
        const guard = socket[GUARD];
        if (!guard || guard.pingSentAt === 0 || guard.pingSentAt > sentAt) continue;
        this.counter.countBound('ping_timeout');
        this.logger.debug({ msg: 'socket terminated: ping unanswered', timeoutMs: this.limits.pingTimeoutMs });
        socket.terminate();
      }
    }
  }

  private stopPinging(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    for (const timer of this.checkTimers) clearTimeout(timer);
    this.checkTimers.clear();
  }

  private listenForUpgrades(): void {
    const http = this.httpServer as HttpServer | undefined;
    if (this.upgradeListener || !http) return;
    this.upgradeListener = (request, socket, head) => {
      const target = this.servers.find((s) => isStreamingPath(request.url, s.path));
      if (!target) {
        // Not a WebSocket endpoint: a plain answer, so the client knows (a bare reset reads as a network fault).
        socket.on('error', destroySocket);
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      if (this.refusing) {
        // Draining: SDKs retry, and a load balancer sends them to another agent.
        socket.end(DRAINING);
        return;
      }
      if (this.openSockets + this.queuedUpgrades >= this.limits.maxConnections) {
        // Refused before a WebSocket exists; SDKs treat a failed open as a reason to retry later.
        this.counter.countBound('max_connections');
        if (++this.refusedUpgrades === 1 || this.refusedUpgrades % 1000 === 0) {
          this.logger.warn({ msg: 'MAX_CONNECTIONS reached: upgrades refused with 503', maxConnections: this.limits.maxConnections, refused: this.refusedUpgrades });
        }
        this.refuse(request, socket, 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const waitMs = this.upgradeLimiter?.take(clientBucketOf(this.clientAddress(request)), Date.now()) ?? 0;
      if (waitMs > 0) {
        // One address opening sockets faster than WS_UPGRADES_PER_SECOND: refused before the
        // handshake's work (key hash, socket objects, registration).
        this.counter.countBound('upgrade_rate');
        if (++this.upgradesLimited === 1 || this.upgradesLimited % 1000 === 0) {
          this.logger.warn({ msg: 'WS_UPGRADES_PER_SECOND: upgrades refused with 429; if the client named is your proxy, set TRUST_PROXY', client: this.clientAddress(request), refused: this.upgradesLimited });
        }
        this.refuse(request, socket, `HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nRetry-After: ${Math.ceil(waitMs / 1000)}\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      socket.on('error', destroySocket);
      this.pendingUpgrades.push({ server: target.server, request, socket, head });
      this.upgradeTurn ??= setImmediate(this.handshake);
    };
    http.on('upgrade', this.upgradeListener);
  }

  private get queuedUpgrades(): number {
    return this.pendingUpgrades.length - this.upgradeNext;
  }

  /**
   * Handshakes queued upgrades for up to UPGRADE_SLICE_MS, then yields a turn of the event loop
   * (where waiting requests are read) and goes on; ws's `handleUpgrade` may be called later than
   * the `upgrade` event (the socket keeps what arrives meanwhile).
   */
  private readonly handshake = (): void => {
    this.upgradeTurn = undefined;
    const since = performance.now();
    while (this.upgradeNext < this.pendingUpgrades.length) {
      const pending = this.pendingUpgrades[this.upgradeNext];
      this.pendingUpgrades[this.upgradeNext++] = undefined;
      if (pending !== undefined && !pending.socket.destroyed) {
        const { server, request, socket, head } = pending;
        if (this.refusing) socket.end(DRAINING);
        else {
          (socket as { destroy: typeof destroyWithSharedError }).destroy = destroyWithSharedError;
          server.handleUpgrade(request, socket, head, (ws) => server.emit('connection', ws, request));
        }
      }
      if (performance.now() - since >= UPGRADE_SLICE_MS) break;
    }
    if (this.upgradeNext < this.pendingUpgrades.length) {
      this.upgradeTurn = setImmediate(this.handshake);
      return;
    }
    this.pendingUpgrades = [];
    this.upgradeNext = 0;
  };

  /** Destroys the sockets of upgrades not handshaken yet (shutdown). */
  private dropPendingUpgrades(): void {
    if (this.upgradeTurn) clearImmediate(this.upgradeTurn);
    this.upgradeTurn = undefined;
    for (let i = this.upgradeNext; i < this.pendingUpgrades.length; i++) this.pendingUpgrades[i]?.socket.destroy();
    this.pendingUpgrades = [];
    this.upgradeNext = 0;
  }

  /**
   * Answers a refused upgrade and closes: at once within the client's refusal budget, else after
   * the tarpit's hold with the socket paused, so a client reconnecting in a loop is answered once
   * per connection a second.
   */
  private refuse(request: IncomingMessage, socket: Duplex, answer: string): void {
    socket.on('error', destroySocket);
    this.tarpit.answer(this.clientAddress(request), socket, () => socket.end(answer));
  }

  /**
   * Nest hands over a per-socket handler table here; it is not kept (see StreamingHandler):
   * messages and the close go to `handler` through listeners shared by every socket.
   */
  override bindMessageHandlers(client: WebSocket): void {
    const guard: Guard = { shared: this.shared, tokens: this.limits.messageBurst, refilledAt: Date.now(), pingSentAt: 0, inbound: 0, socket: client };
    (client as RoutedSocket)[GUARD] = guard;
    const raw = (client as unknown as { _socket?: Duplex & { [GUARD]?: Guard } })._socket;
    if (raw) {
      raw[GUARD] = guard;
      raw.on('data', onRawData);
    }
    client.on('error', onSocketError);
    client.on('message', onSocketMessage);
    client.on('ping', onSocketPing);
    client.on('pong', onSocketPong);
    client.on('close', onSocketClose);
  }

  /** The close reaches the handler through the listener bindMessageHandlers added. */
  override bindClientDisconnect(): void {}

  /** Closes every socket with 1000 (SDKs reconnect), then ends the server. */
  override async close(server: WebSocketServer): Promise<void> {
    this.stopPinging();
    this.dropPendingUpgrades();
    for (const socket of server.clients) socket.close(CloseCode.Normal, 'server shutdown');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const deadline = setTimeout(() => {
      for (const socket of server.clients) socket.terminate();
    }, 2000);
    await closed;
    clearTimeout(deadline);
  }

  override dispose(): Promise<void> {
    this.stopPinging();
    this.dropPendingUpgrades();
    const http = this.httpServer as HttpServer | undefined;
    if (this.upgradeListener && http) http.off('upgrade', this.upgradeListener);
    this.upgradeListener = undefined;
    return Promise.resolve();
  }
}
