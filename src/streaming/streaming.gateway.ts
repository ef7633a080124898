import type { IncomingMessage } from 'node:http';
import { Inject, Logger } from '@nestjs/common';
import { WebSocketGateway, type OnGatewayConnection } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { decodeStreamingToken } from '../credentials/streaming-token.js';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import { ConnectionRegistry } from './connection-registry.js';
import { DataSyncService } from './data-sync.service.js';
import { SharedFrame } from './fan-out.js';
import type { StreamingHandler } from './featbit-ws.adapter.js';
import { CloseCode, CloseReason, PONG, echoMessage, parseStreamingRequest, requestTimestamp, requestUser, userWithinBounds } from './protocol.js';

/** The pong, framed once: a reply to a ping allocates nothing and queues one write of shared bytes. */
const PONG_FRAME = new SharedFrame(PONG);

@WebSocketGateway({ path: '/streaming' })
export class StreamingGateway implements OnGatewayConnection, StreamingHandler {
  private readonly logger = new Logger(StreamingGateway.name);
  private accepting = true;

  constructor(
    private readonly connections: ConnectionRegistry,
    private readonly dataSync: DataSyncService,
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
  ) {}

  /** Validates the handshake (protocol §2.2) after the upgrade; rejects with 4003, or 1011 if transient. */
  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    if (!this.accepting) return socket.close(CloseCode.ServiceUnavailable, CloseReason.ServiceUnavailable);
    const parsed = parseStreamingRequest(request.url);
    if (!parsed.ok) return this.reject(socket, parsed.reason);
    const token = decodeStreamingToken(parsed.value.token, Date.now(), this.config.tokenExpirySeconds);
    if (!token.ok) return this.reject(socket, token.reason);
    const data = this.store.data;
    if (!data.isPopulated) {
      // Never 4003 before the first data arrives: SDKs obey 4003 and would never come back.
      return socket.close(CloseCode.ServiceUnavailable, CloseReason.ServiceUnavailable);
    }
    const secret = data.secret(token.secret);
    if (!secret) return this.reject(socket, 'unknown secret');
    if (secret.type !== parsed.value.type) return this.reject(socket, 'secret type does not match');
    this.connections.add(socket, {
      type: secret.type,
      envId: secret.envId,
      projectKey: secret.projectKey,
      envKey: secret.envKey,
    });
  }

  disconnected(socket: WebSocket): void {
    this.connections.remove(socket);
  }

  /**
   * Routes a message on its lower-cased `messageType` (FeatBitWsAdapter delivers it, see
   * StreamingHandler). `rp-agent-status` is meaningful only upstream (protocol §6.9): like any
   * unknown type it is ignored.
   */
  message(socket: WebSocket, messageType: string, data: unknown): string | SharedFrame | undefined {
    switch (messageType) {
      case 'ping':
        return this.ping();
      case 'echo':
        return this.echo(data);
      case 'data-sync':
        return this.sync(socket, data);
      default:
        return undefined;
    }
  }

  private ping(): SharedFrame {
    this.connections.countIn('ping');
    this.connections.repliesOut++;
    return PONG_FRAME;
  }

  private echo(data: unknown): string {
    this.connections.countIn('echo');
    this.connections.repliesOut++;
    return echoMessage(data);
  }

  private sync(socket: WebSocket, data: unknown): string | SharedFrame | undefined {
    this.connections.countIn('data-sync');
    const connection = this.connections.get(socket);
    if (!connection) return undefined;
    const user = requestUser(data);
    if (connection.type === 'client') {
      const { maxUserBytes, maxUserProperties } = this.config.streaming;
      if (!userWithinBounds(user, maxUserBytes, maxUserProperties)) {
        // Like an invalid user (§2.5): no reply, and the connection keeps the user it had.
        this.connections.countBound('user_too_large');
        this.logger.debug({ msg: 'client user over WS_MAX_USER_BYTES / WS_MAX_USER_PROPERTIES ignored', connectionId: connection.id });
        return undefined;
      }
    }
    const reply = this.dataSync.reply(connection, requestTimestamp(data), user);
    if (reply !== undefined) this.connections.repliesOut++;
    return reply;
  }

  /** Refuses new connections (graceful drain); existing ones stay until closed. */
  stopAccepting(): void {
    this.accepting = false;
    this.onStopAccepting?.();
  }

  /** Set by the app factory: lets the adapter refuse upgrades before they reach the gateway. */
  onStopAccepting?: () => void;

  private reject(socket: WebSocket, reason: string): void {
    this.logger.debug({ msg: 'streaming connection rejected', reason });
    socket.close(CloseCode.InvalidRequest, CloseReason.InvalidRequest);
  }
}
