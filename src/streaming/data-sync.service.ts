import { Inject, Injectable } from '@nestjs/common';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import type { Connection } from './connection-registry.js';
import { EMPTY_SERVER_PATCH, serverFullFrame, serverPatchMessage } from './server-payload.js';
import type { SharedFrame } from './fan-out.js';
import { CLIENT_SYNC, type ClientSync } from './client-sync.js';

/** Answers `data-sync` requests (protocol §2.6–§2.8). */
@Injectable()
export class DataSyncService {
  constructor(
    @Inject(FLAG_STORE) private readonly store: FlagStore,
    @Inject(CLIENT_SYNC) private readonly clients: ClientSync,
  ) {}

  /**
   * The reply, or undefined when nothing must be sent (client without a valid user). A server
   * full payload is the environment's cached frame: a reconnect storm frames it once.
   */
  reply(connection: Connection, timestamp: number, user: unknown): string | SharedFrame | undefined {
    if (connection.type === 'client') return this.clients.reply(connection, timestamp, user);
    const env = this.store.data.env(connection.envId);
    if (timestamp <= 0) return serverFullFrame(env);
    // Over WebSocket an empty patch is still answered: SDKs become ready on the first data-sync.
    return serverPatchMessage(env, timestamp) ?? EMPTY_SERVER_PATCH;
  }
}
