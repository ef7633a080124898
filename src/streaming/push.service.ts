import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import type { DataChange, EnvChange } from '../store/memory-data.js';
import { ConnectionRegistry } from './connection-registry.js';
import { CLIENT_SYNC, type ClientSync } from './client-sync.js';
import { fanOut } from './fan-out.js';
import { serverChangeMessage, serverFullBytes } from './server-payload.js';

/** Pushes stored changes to the SDKs of the changed environments (protocol §2.9). */
@Injectable()
export class PushService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(PushService.name);
  private unsubscribe?: () => void;
  /** Pushes run one after another so SDKs see changes in the order they were stored. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    private readonly connections: ConnectionRegistry,
    @Inject(CLIENT_SYNC) private readonly clients: ClientSync,
  ) {}

  onModuleInit(): void {
    this.unsubscribe = this.store.onChange((change) => {
      this.queue = this.queue.then(() => this.push(change)).catch((error: unknown) => {
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

  private async push(change: DataChange): Promise<void> {
    for (const env of change.envs) await this.pushEnv(env);
  }

  private async pushEnv(change: EnvChange): Promise<void> {
    const onError = (connection: { id: number }, error: unknown): void =>
      this.logger.warn({ msg: 'push to connection failed', connectionId: connection.id, err: String(error) });
    const servers = this.connections.of(change.envId, 'server');
    if (servers.size > 0) {
      const frame = change.full
        ? serverFullBytes(this.store.data.env(change.envId))
        : Buffer.from(serverChangeMessage(change.flags, change.segments));
      await fanOut(servers, () => frame, onError);
    }
    const clients = this.connections.of(change.envId, 'client');
    if (clients.size > 0) await fanOut(clients, (connection) => this.clients.push(connection, change), onError);
  }
}
