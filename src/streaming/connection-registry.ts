import { Injectable } from '@nestjs/common';
import type { WebSocket } from 'ws';
import type { SdkType } from './protocol.js';
import { OutboundBudget } from './fan-out.js';

/** One SDK WebSocket (protocol §2.3). Kept small: there may be tens of thousands. */
export interface Connection {
  readonly id: number;
  readonly socket: WebSocket;
  readonly type: SdkType;
  readonly envId: string;
  readonly projectKey: string;
  readonly envKey: string;
  /** Client connections: the user of the latest valid data-sync; the evaluation module's type. */
  user: unknown;
}

interface EnvConnections {
  server: Set<Connection>;
  client: Set<Connection>;
}

/** Why a bound acted on a socket (issue 11); counted for metrics. */
export type BoundReason = 'max_connections' | 'upgrade_rate' | 'rate_limit' | 'ping_timeout' | 'slow_consumer' | 'user_too_large' | 'inbound_budget' | 'outbound_budget';

/** Counts what the WebSocket bounds did; holds the budget of unsent data all sockets share. */
export interface BoundCounter {
  countBound(reason: BoundReason): void;
  readonly outbound?: OutboundBudget;
}

const CONNECTION = Symbol('featbit.connection');
type TaggedSocket = WebSocket & { [CONNECTION]?: Connection };

/** Open SDK connections, grouped by environment and type for change fan-out. */
@Injectable()
export class ConnectionRegistry implements BoundCounter {
  private readonly envs = new Map<string, EnvConnections>();
  private nextId = 1;
  private total = 0;
  /** Messages received from SDKs by type, and replies sent (metrics read these). */
  readonly messagesIn = new Map<string, number>();
  repliesOut = 0;
  /** Sockets refused, closed, terminated or users ignored by a bound, by reason. */
  readonly bounded = new Map<BoundReason, number>();
  /** WS_OUTBOUND_BUDGET_BYTES, shared by replies and pushes; its limit is set by the app factory (0: off). */
  readonly outbound = new OutboundBudget(0);

  countIn(type: string): void {
    this.messagesIn.set(type, (this.messagesIn.get(type) ?? 0) + 1);
  }

  countBound(reason: BoundReason): void {
    this.bounded.set(reason, (this.bounded.get(reason) ?? 0) + 1);
  }

  add(socket: WebSocket, init: Omit<Connection, 'id' | 'socket' | 'user'>): Connection {
    const connection: Connection = { id: this.nextId++, socket, user: undefined, ...init };
    (socket as TaggedSocket)[CONNECTION] = connection;
    let env = this.envs.get(init.envId);
    if (!env) {
      env = { server: new Set(), client: new Set() };
      this.envs.set(init.envId, env);
    }
    env[init.type].add(connection);
    this.total++;
    return connection;
  }

  get(socket: WebSocket): Connection | undefined {
    return (socket as TaggedSocket)[CONNECTION];
  }

  remove(socket: WebSocket): Connection | undefined {
    const connection = (socket as TaggedSocket)[CONNECTION];
    if (!connection) return undefined;
    const env = this.envs.get(connection.envId);
    if (env?.[connection.type].delete(connection)) this.total--;
    if (env && env.server.size === 0 && env.client.size === 0) this.envs.delete(connection.envId);
    return connection;
  }

  of(envId: string, type: SdkType): ReadonlySet<Connection> {
    return this.envs.get(envId)?.[type] ?? EMPTY;
  }

  envIds(): string[] {
    return [...this.envs.keys()];
  }

  all(): Connection[] {
    const out: Connection[] = [];
    for (const env of this.envs.values()) out.push(...env.server, ...env.client);
    return out;
  }

  get size(): number {
    return this.total;
  }

  counts(): { server: number; client: number } {
    let server = 0;
    let client = 0;
    for (const env of this.envs.values()) {
      server += env.server.size;
      client += env.client.size;
    }
    return { server, client };
  }
}

const EMPTY: ReadonlySet<Connection> = new Set();
