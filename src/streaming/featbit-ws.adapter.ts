import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { Logger } from '@nestjs/common';
import type { WsMessageHandler } from '@nestjs/common';
import { AbstractWsAdapter } from '@nestjs/websockets';
import { isObservable, type Observable } from 'rxjs';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { CloseCode, parseInbound } from './protocol.js';

/** Inbound messages up to this size are accepted (protocol §2.4 asks for at least 1 MiB). */
export const MAX_INBOUND_BYTES = 1024 * 1024;

type Handler = (data: unknown, messageType: string) => unknown;

function isStreamingPath(url: string | undefined, base: string): boolean {
  const path = (url ?? '').split('?', 1)[0] ?? '';
  return path === base || path.startsWith(`${base}/`);
}

/** Decorator names (shared by every socket's handlers) → lower case. */
const lowerNames = new Map<string, string>();

function findHandler(handlers: WsMessageHandler[], messageType: string): Handler | undefined {
  for (const handler of handlers) {
    const declared = String(handler.message);
    let name = lowerNames.get(declared);
    if (name === undefined) {
      name = declared.toLowerCase();
      lowerNames.set(declared, name);
    }
    if (name === messageType) return handler.callback as Handler;
  }
  return undefined;
}

function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

const logger = new Logger('FeatBitWsAdapter');
const HANDLERS = Symbol('featbit.handlers');
const TRANSFORM = Symbol('featbit.transform');

type RoutedSocket = WebSocket & {
  [HANDLERS]?: WsMessageHandler[];
  [TRANSFORM]?: (data: unknown) => Observable<unknown>;
};

function destroySocket(this: Duplex): void {
  this.destroy();
}

function onSocketError(this: WebSocket, error: Error): void {
  logger.debug({ msg: 'socket error', err: error.message });
}

function onSocketMessage(this: RoutedSocket, data: RawData, isBinary: boolean): void {
  route(this, data, isBinary);
}

function route(socket: RoutedSocket, data: RawData, isBinary: boolean): void {
  if (isBinary) return;
  const message = parseInbound(textOf(data));
  if (!message) return;
  const handler = findHandler(socket[HANDLERS] ?? [], message.messageType);
  if (!handler) return;
  let result: unknown;
  try {
    result = handler(message.data, message.messageType);
  } catch (error) {
    logger.warn({ msg: 'message handler failed', messageType: message.messageType, err: String(error) });
    return;
  }
  if (typeof result === 'string') {
    reply(socket, result);
    return;
  }
  void Promise.resolve(result).then(
    (value) => {
      const transform = socket[TRANSFORM];
      if (isObservable(value) && transform) transform(value).subscribe({ next: (v) => reply(socket, v), error: () => undefined });
      else reply(socket, value);
    },
    (error: unknown) => logger.warn({ msg: 'message handler failed', messageType: message.messageType, err: String(error) }),
  );
}

/** A handler error sends nothing (protocol §2.4); empty strings are never sent. */
function reply(client: WebSocket, value: unknown): void {
  if (value === undefined || value === null || client.readyState !== client.OPEN) return;
  const text = typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value);
  if (text.length === 0) return;
  client.send(text, { binary: false });
}

/**
 * Nest WebSocket adapter for the FeatBit protocol. SDKs send `{messageType, data}`, so messages
 * are routed on `messageType` (case-insensitively) instead of Nest's `event`. Per socket it adds
 * one listener and no RxJS plumbing, keeping tens of thousands of idle sockets cheap.
 * Upgrades to `/streaming` and `/streaming/...` are accepted (protocol §2.1); others are dropped.
 */
export class FeatBitWsAdapter extends AbstractWsAdapter {
  private readonly logger = logger;
  private readonly servers: { server: WebSocketServer; path: string }[] = [];
  private upgradeListener?: (request: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Set while draining: new upgrades are answered 503. */
  refusing = false;

  override create(_port: number, options?: { path?: string }): WebSocketServer {
    const server = new WebSocketServer({ noServer: true, maxPayload: MAX_INBOUND_BYTES, perMessageDeflate: false });
    server.on('error', (error) => this.logger.error({ msg: 'websocket server error', err: error }));
    const path = options?.path ?? '/streaming';
    this.servers.push({ server, path: path.endsWith('/') ? path.slice(0, -1) : path });
    this.listenForUpgrades();
    return server;
  }

  private listenForUpgrades(): void {
    const http = this.httpServer as HttpServer | undefined;
    if (this.upgradeListener || !http) return;
    this.upgradeListener = (request, socket, head) => {
      const target = this.servers.find((s) => isStreamingPath(request.url, s.path));
      if (!target) {
        socket.destroy();
        return;
      }
      if (this.refusing) {
        // Draining: SDKs retry, and a load balancer sends them to another agent.
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      socket.on('error', destroySocket);
      target.server.handleUpgrade(request, socket, head, (ws) => target.server.emit('connection', ws, request));
    };
    http.on('upgrade', this.upgradeListener);
  }

  override bindMessageHandlers(
    client: WebSocket,
    handlers: WsMessageHandler[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    // Shared listeners and two properties instead of per-socket closures: sockets stay small.
    const routed = client as RoutedSocket;
    routed[HANDLERS] = handlers;
    routed[TRANSFORM] = transform;
    client.on('error', onSocketError);
    client.on('message', onSocketMessage);
  }

  override bindClientDisconnect(client: WebSocket, callback: (...args: unknown[]) => void): void {
    client.once('close', callback);
  }

  /** Closes every socket with 1000 (SDKs reconnect), then ends the server. */
  override async close(server: WebSocketServer): Promise<void> {
    for (const socket of server.clients) socket.close(CloseCode.Normal, 'server shutdown');
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const deadline = setTimeout(() => {
      for (const socket of server.clients) socket.terminate();
    }, 2000);
    await closed;
    clearTimeout(deadline);
  }

  override dispose(): Promise<void> {
    const http = this.httpServer as HttpServer | undefined;
    if (this.upgradeListener && http) http.off('upgrade', this.upgradeListener);
    this.upgradeListener = undefined;
    return Promise.resolve();
  }
}
