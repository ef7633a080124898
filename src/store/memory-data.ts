import type { DataSet, EnvData, Secret, StoreItem } from './data-set.js';

/** What one write changed in one environment, for the gateway to push (protocol §2.9). */
export interface EnvChange {
  envId: string;
  /** Send a full payload (bootstrap, or items were removed); otherwise send `flags`/`segments`. */
  full: boolean;
  flags: StoreItem[];
  segments: StoreItem[];
}

export interface DataChange {
  envs: EnvChange[];
}

/** One environment's data, indexed for serving. Mutated only through MemoryData. */
export class EnvState {
  secrets: Secret[] = [];
  readonly flags = new Map<string, StoreItem>();
  readonly segments = new Map<string, StoreItem>();
  /** Largest item timestamp of the environment. */
  version = 0;
  /** Bumped on every change. */
  generation = 0;
  /** Values derived from this env's data (payloads, evaluation index); emptied on every change. */
  readonly cache = new Map<string, unknown>();

  constructor(readonly envId: string) {}

  toEnvData(): EnvData {
    return {
      envId: this.envId,
      secrets: [...this.secrets],
      flags: [...this.flags.values()],
      segments: [...this.segments.values()],
    };
  }

  /** Returns the cached value for `key`, building it once per change of this env. */
  cached<T>(key: string, build: (env: EnvState) => T): T {
    if (this.cache.has(key)) return this.cache.get(key) as T;
    const value = build(this);
    this.cache.set(key, value);
    return value;
  }

  touch(): void {
    this.generation++;
    this.cache.clear();
  }

  recomputeVersion(): void {
    let version = 0;
    for (const item of this.flags.values()) version = Math.max(version, item.timestamp);
    for (const item of this.segments.values()) version = Math.max(version, item.timestamp);
    this.version = version;
  }
}

function sameJson(a: StoreItem, b: StoreItem): boolean {
  return a.timestamp === b.timestamp && JSON.stringify(a.json) === JSON.stringify(b.json);
}

/**
 * The agent's serving copy of the data, read synchronously on every request. Store providers keep
 * one and write through to their backend. Implements the store rules of protocol §6.11.
 */
export class MemoryData {
  private readonly envs = new Map<string, EnvState>();
  private readonly secretsByValue = new Map<string, Secret>();
  /** The secret `secret()` found last; forgotten whenever the secrets change. */
  private lastFound: Secret | undefined;
  private dataVersionEver = 0;
  private populated = false;

  /** True once any full data set has been stored (bootstrap, rp_full, or persisted data). */
  get isPopulated(): boolean {
    return this.populated;
  }

  /** Largest item timestamp ever stored; never decreases. */
  get dataVersion(): number {
    return this.dataVersionEver;
  }

  env(envId: string): EnvState | undefined {
    return this.envs.get(envId);
  }

  environments(): IterableIterator<EnvState> {
    return this.envs.values();
  }

  secret(value: string): Secret | undefined {
    // Polling SDKs send the same secret again and again, each time as a new string: comparing it
    // with the last one found is cheaper than hashing it for the map.
    if (value === this.lastFound?.value) return this.lastFound;
    const secret = this.secretsByValue.get(value);
    if (secret) this.lastFound = secret;
    return secret;
  }

  /** `projectKey:envKey` of the first secret of each env that has secrets, joined with `,`. */
  serves(): string {
    const parts: string[] = [];
    for (const env of this.envs.values()) {
      const first = env.secrets[0];
      if (first) parts.push(`${first.projectKey}:${first.envKey}`);
    }
    return parts.join(',');
  }

  snapshot(): DataSet {
    return { envs: [...this.envs.values()].map((env) => env.toEnvData()) };
  }

  /**
   * Replaces everything. With `pushAll` (bootstrap) every env of the new data gets a full push;
   * otherwise (upstream rp_full, reconcile) only what differs is reported, and an env that lost
   * items or secrets gets a full push so SDKs drop what upstream no longer has.
   */
  replaceAll(data: DataSet, pushAll: boolean): DataChange {
    const previous = new Map(this.envs);
    this.envs.clear();
    this.secretsByValue.clear();
    this.lastFound = undefined;
    const changes: EnvChange[] = [];
    for (const incoming of data.envs) {
      const env = new EnvState(incoming.envId);
      const before = previous.get(incoming.envId);
      env.generation = (before?.generation ?? 0) + 1;
      env.secrets = incoming.secrets;
      for (const flag of incoming.flags) upsertInto(env.flags, flag);
      for (const segment of incoming.segments) upsertInto(env.segments, segment);
      env.recomputeVersion();
      const change = pushAll ? fullChange(env) : diffEnv(before, env);
      // Nothing differs (a reconnect's rp_full): keep the held state and its caches.
      const kept = !change && before ? before : env;
      this.envs.set(kept.envId, kept);
      for (const secret of kept.secrets) if (!this.secretsByValue.has(secret.value)) this.secretsByValue.set(secret.value, secret);
      this.dataVersionEver = Math.max(this.dataVersionEver, kept.version);
      if (change) changes.push(change);
      previous.delete(incoming.envId);
    }
    // Environments that disappeared: their connections get an empty full payload.
    for (const gone of previous.values()) {
      if (!pushAll && gone.flags.size === 0 && gone.segments.size === 0) continue;
      changes.push({ envId: gone.envId, full: true, flags: [], segments: [] });
    }
    this.populated = true;
    return { envs: changes };
  }

  /** Upserts items (flag or segment, any env); returns per env the items actually stored. */
  applyPatch(items: StoreItem[]): DataChange {
    const byEnv = new Map<string, EnvChange>();
    for (const item of items) {
      let env = this.envs.get(item.envId);
      if (!env) {
        env = new EnvState(item.envId);
        this.envs.set(item.envId, env);
      }
      const target = item.kind === 'flag' ? env.flags : env.segments;
      // FeatBit sends each live patch once per server secret (§6.6): a copy of what is held is no change.
      const held = target.get(item.id);
      if (held && sameJson(held, item)) continue;
      if (!upsertInto(target, item)) continue;
      env.touch();
      env.version = Math.max(env.version, item.timestamp);
      this.dataVersionEver = Math.max(this.dataVersionEver, item.timestamp);
      let change = byEnv.get(item.envId);
      if (!change) {
        change = { envId: item.envId, full: false, flags: [], segments: [] };
        byEnv.set(item.envId, change);
      }
      (item.kind === 'flag' ? change.flags : change.segments).push(item);
    }
    return { envs: [...byEnv.values()] };
  }

  /** Marks data loaded from persistence as serveable. */
  markPopulated(): void {
    this.populated = true;
  }
}

/** Store rule: insert if absent; replace if the incoming timestamp is ≥ the stored one. */
function upsertInto(target: Map<string, StoreItem>, item: StoreItem): boolean {
  const held = target.get(item.id);
  if (held && held.timestamp > item.timestamp) return false;
  target.set(item.id, item);
  return true;
}

function fullChange(env: EnvState): EnvChange {
  return { envId: env.envId, full: true, flags: [], segments: [] };
}

function diffEnv(before: EnvState | undefined, after: EnvState): EnvChange | null {
  if (!before) return after.flags.size + after.segments.size > 0 ? fullChange(after) : null;
  const removed =
    [...before.flags.keys()].some((id) => !after.flags.has(id)) ||
    [...before.segments.keys()].some((id) => !after.segments.has(id)) ||
    JSON.stringify(before.secrets) !== JSON.stringify(after.secrets);
  if (removed) return fullChange(after);
  const flags = [...after.flags.values()].filter((f) => {
    const held = before.flags.get(f.id);
    return !held || !sameJson(held, f);
  });
  const segments = [...after.segments.values()].filter((s) => {
    const held = before.segments.get(s.id);
    return !held || !sameJson(held, s);
  });
  if (flags.length === 0 && segments.length === 0) return null;
  return { envId: after.envId, full: false, flags, segments };
}
