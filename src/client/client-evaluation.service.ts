import { Inject, Injectable } from '@nestjs/common';
import { FLAG_STORE, type FlagStore } from '../store/flag-store.js';
import type { EnvChange, EnvState } from '../store/memory-data.js';
import type { Connection } from '../streaming/connection-registry.js';
import type { ClientSync } from '../streaming/client-sync.js';
import { EvaluationIndex, clientMessage } from '../evaluation/evaluation-index.js';
import { parseEndUser, prepareUser, type EndUser, type PreparedUser } from '../evaluation/end-user.js';
import type { CompiledFlag } from '../evaluation/evaluator.js';

const EMPTY_INDEX = new EvaluationIndex([], []);

/** Listeners told of every valid end user a client SDK presents (insights, protocol §3.4). */
export type EndUserListener = (envId: string, user: EndUser) => void;

/**
 * Evaluates flags for client SDKs (protocol §2.5–§2.9, §3.3). The compiled index of an
 * environment is built once per data change and shared by all its connections.
 */
@Injectable()
export class ClientEvaluationService implements ClientSync {
  private readonly userListeners: EndUserListener[] = [];

  constructor(@Inject(FLAG_STORE) private readonly store: FlagStore) {}

  onEndUser(listener: EndUserListener): void {
    this.userListeners.push(listener);
  }

  index(envId: string): EvaluationIndex {
    const env = this.store.data.env(envId);
    if (!env) return EMPTY_INDEX;
    return env.cached('evaluation-index', (e: EnvState) => new EvaluationIndex(e.flags.values(), e.segments.values()));
  }

  /** `data-sync` from a client SDK: a valid user replaces the connection's user; invalid → no reply. */
  reply(connection: Connection, timestamp: number, rawUser: unknown): string | undefined {
    const user = parseEndUser(rawUser);
    if (!user) return undefined;
    const prepared = prepareUser(user);
    connection.user = prepared;
    this.tell(connection.envId, user);
    // Over WebSocket an empty patch is still sent: SDKs become ready on the first data-sync.
    return this.payload(connection.envId, prepared, timestamp) ?? clientMessage('patch', prepared, '');
  }

  /** The payload for `user`: full when timestamp ≤ 0, else flags changed after it (null if none). */
  payload(envId: string, user: PreparedUser, timestamp: number): string | null {
    const index = this.index(envId);
    if (timestamp <= 0) return clientMessage('full', user, index.entries(index.flags, user));
    const changed = index.flags.filter((f) => f.timestamp > timestamp);
    return changed.length === 0 ? null : clientMessage('patch', user, index.entries(changed, user));
  }

  /** Validates an HTTP body user (protocol §3.3) and tells the insight listeners. */
  httpUser(envId: string, raw: unknown): PreparedUser | null {
    const user = parseEndUser(raw);
    if (!user) return null;
    this.tell(envId, user);
    return prepareUser(user);
  }

  push(connection: Connection, change: EnvChange): string | null {
    const user = connection.user as PreparedUser | undefined;
    if (!user) return null;
    const index = this.index(change.envId);
    if (change.full) return clientMessage('full', user, index.entries(index.flags, user));
    const flags = this.affected(index, change);
    return flags.length === 0 ? null : clientMessage('patch', user, index.entries(flags, user));
  }

  /** Changed flags, plus flags whose rules name a changed segment, as currently stored. */
  private affected(index: EvaluationIndex, change: EnvChange): CompiledFlag[] {
    const out = new Set<CompiledFlag>();
    for (const item of change.flags) {
      const flag = index.flag(String(item.json['key']));
      if (flag) out.add(flag);
    }
    if (change.segments.length > 0) {
      for (const flag of index.flagsReferencingSegments(change.segments.map((s) => s.id))) out.add(flag);
    }
    return [...out];
  }

  private tell(envId: string, user: EndUser): void {
    for (const listener of this.userListeners) listener(envId, user);
  }
}
