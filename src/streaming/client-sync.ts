import type { Connection } from './connection-registry.js';
import type { EnvChange } from '../store/memory-data.js';

/**
 * Client SDK side of streaming: evaluates flags for each connection's user. Provided by the
 * evaluation module; the streaming module only routes to it.
 */
export interface ClientSync {
  /** Validates `user`, attaches it to the connection and returns the reply (undefined: send nothing). */
  reply(connection: Connection, timestamp: number, user: unknown): string | undefined;
  /** The push for one client connection after a change, or null to skip it. */
  push(connection: Connection, change: EnvChange): string | null;
}

export const CLIENT_SYNC = Symbol('CLIENT_SYNC');
