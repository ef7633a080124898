import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { AGENT_CONFIG } from '../config/config.tokens.js';
import type { AgentConfig } from '../config/agent-config.js';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import type { DataChange, EnvChange } from '../store/memory-data.js';
import { ConnectionRegistry } from './connection-registry.js';
import { CLIENT_SYNC, type ClientSync } from './client-sync.js';
import { SharedFrame, fanOut } from './fan-out.js';
import { serverChangeMessage, serverFullFrame } from './server-payload.js';

export interface FanOutRecord {
  envId: string;
  type: 'server' | 'client';
  sockets: number;
  /** From the change being stored to the last frame handed to its socket. */
  ms: number;
}

/** Pushes stored changes to the SDKs of the changed environments (protocol §2.9). */
@Injectable()
export class PushService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(PushService.name);
  private unsubscribe?: () => void;
  /** Pushes run one after another so SDKs see changes in the order they were stored. */
  private queue: Promise<void> = Promise.resolve();
  private readonly fanOutListeners: ((record: FanOutRecord) => void)[] = [];
  /** The most recent fan-out of each SDK type, for status and benchmarks. */
  readonly lastFanOut: Partial<Record<'server' | 'client', FanOutRecord>> = {};

  constructor(
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    private readonly connections: ConnectionRegistry,
    @Inject(CLIENT_SYNC) private readonly clients: ClientSync,
    @Inject(AGENT_CONFIG) private readonly config: AgentConfig,
  ) {}

  onModuleInit(): void {
    this.unsubscribe = this.store.onChange((change) => {
      const storedAt = performance.now();
      this.queue = this.queue.then(() => this.push(change, storedAt)).catch((error: unknown) => {
        this.logger.error({ msg: 'push failed', err: String(error) });
      });
    });
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
  }

  /** Resolves once every push queued so far has been written to the sockets. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Called after each fan-out with its size and duration (metrics). */
  onFanOut(listener: (record: FanOutRecord) => void): void {
    this.fanOutListeners.push(listener);
  }

  private async push(change: DataChange, storedAt: number): Promise<void> {
    for (const env of change.envs) await this.pushEnv(env, storedAt);
  }

  private record(envId: string, type: 'server' | 'client', sockets: number, storedAt: number): void {
    const record: FanOutRecord = { envId, type, sockets, ms: performance.now() - storedAt };
    this.lastFanOut[type] = record;
    for (const listener of this.fanOutListeners) listener(record);
  }

  private async pushEnv(change: EnvChange, storedAt: number): Promise<void> {
    const onError = (connection: { id: number }, error: unknown): void =>
      this.logger.warn({ msg: 'push to connection failed', connectionId: connection.id, err: String(error) });
    const servers = this.connections.of(change.envId, 'server');
    if (servers.size > 0) {
      // The same bytes for every server socket: framed once, written to each.
      const frame = change.full
        ? serverFullFrame(this.store.data.env(change.envId))
        : new SharedFrame(serverChangeMessage(change.flags, change.segments));
      this.record(change.envId, 'server', await fanOut(servers, () => frame, onError, this.config.streaming.maxBufferedBytes, this.connections), storedAt);
    }
    const clients = this.connections.of(change.envId, 'client');
    if (clients.size > 0) {
      const sent = await fanOut(clients, (connection) => this.clients.push(connection, change), onError, this.config.streaming.maxBufferedBytes, this.connections);
      this.record(change.envId, 'client', sent, storedAt);
    }
  }
}
