/** Agent ↔ FeatBit evaluation server messages (protocol §6.5–§6.6). Plain functions, no Nest. */
import type { ClientOptions } from 'ws';
import { DataValidationError, parseBootstrap, parseItems, type DataSet, type StoreItem } from '../store/data-set.js';
import type { MemoryData } from '../store/memory-data.js';

/** An item of an upstream message that was left out because it is invalid. */
export interface SkippedItem {
  /** Where it was in the message, e.g. `items[0].featureFlags[3]`. */
  where: string;
  /** Why, e.g. `key is required`. */
  reason: string;
  /** Its `id` when it had one. */
  id?: string;
  /** rp_full: the version held before was kept (the item was not dropped from the store). */
  keptHeld?: boolean;
}

export type UpstreamEvent =
  | { kind: 'full'; data: DataSet; skipped: SkippedItem[] }
  | { kind: 'patch'; items: StoreItem[]; skipped: SkippedItem[] }
  | { kind: 'pong' }
  | { kind: 'ignored'; why: string };

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * Parses one upstream text frame. Invalid flags, segments and secrets (no `key`, an unparsable
 * `updatedAt`, …) are left out and listed in `skipped`, so one bad item never costs the rest; in
 * an rp_full an invalid item whose `id` the agent already holds keeps its held version (`held`).
 * Throws DataValidationError when the message itself is malformed (no `items` array, an
 * environment without `envId` or without its `featureFlags`/`segments` arrays).
 */
export function parseUpstreamMessage(text: string, held?: MemoryData): UpstreamEvent {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw new DataValidationError('upstream sent a frame that is not JSON');
  }
  const envelope = record(message);
  const type = typeof envelope?.['messageType'] === 'string' ? (envelope['messageType']).toLowerCase() : '';
  if (type === 'pong') return { kind: 'pong' };
  if (type !== 'data-sync') return { kind: 'ignored', why: `messageType ${type || '(none)'}` };
  const data = record(envelope?.['data']);
  if (!data) throw new DataValidationError('data-sync without data');
  const eventType = data['eventType'];
  switch (eventType) {
    case 'rp_full':
      return { kind: 'full', ...parseEnvs(eventType, data['items'], held) };
    case 'rp_patch': {
      // Same item shape as rp_full, with secrets always empty: only flags and segments count.
      const parsed = parseEnvs(eventType, data['items'], undefined);
      return { kind: 'patch', items: parsed.data.envs.flatMap((env) => [...env.flags, ...env.segments]), skipped: parsed.skipped };
    }
    case 'patch': {
      const skipped: SkippedItem[] = [];
      const items = [...validItems('flag', data['featureFlags'], 'featureFlags', skipped), ...validItems('segment', data['segments'], 'segments', skipped)];
      return { kind: 'patch', items, skipped };
    }
    default:
      return { kind: 'ignored', why: `eventType ${String(eventType)}` };
  }
}

/** The `items` of rp_full/rp_patch; the strict parse first, item by item only when it fails. */
function parseEnvs(eventType: string, items: unknown, held: MemoryData | undefined): { data: DataSet; skipped: SkippedItem[] } {
  try {
    return { data: parseBootstrap({ eventType, items }), skipped: [] };
  } catch (error) {
    if (!(error instanceof DataValidationError) || !Array.isArray(items)) throw error;
  }
  const skipped: SkippedItem[] = [];
  const cleaned = items.map((raw, i) => cleanEnv(raw, `items[${i}]`, held, skipped));
  // Whatever is still wrong is wrong with an environment as a whole: that rejects the message.
  return { data: parseBootstrap({ eventType, items: cleaned }), skipped };
}

/** One environment entry with its invalid secrets, flags and segments left out (or replaced by what is held). */
function cleanEnv(raw: unknown, where: string, held: MemoryData | undefined, skipped: SkippedItem[]): unknown {
  const env = record(raw);
  const envId = env?.['envId'];
  if (!env || typeof envId !== 'string' || envId.trim() === '' || !Array.isArray(env['featureFlags']) || !Array.isArray(env['segments'])) return raw;
  const heldEnv = held?.env(envId);
  const probe = (part: { secrets?: unknown[]; featureFlags?: unknown[]; segments?: unknown[] }): string | null => {
    try {
      parseBootstrap({ eventType: 'probe', items: [{ envId, secrets: [], featureFlags: [], segments: [], ...part }] });
      return null;
    } catch (error) {
      if (!(error instanceof DataValidationError)) throw error;
      // `items[0].featureFlags[0].key is required` → `key is required`
      return error.message.replace(/^items\[0\]\.\w+\[0\]\.?\s*/, '');
    }
  };
  const keep = (kind: 'featureFlags' | 'segments', items: unknown[]): unknown[] =>
    items.flatMap((item, j) => {
      const reason = probe({ [kind]: [item] });
      if (reason === null) return [item];
      const id = record(item)?.['id'];
      const previous = typeof id === 'string' ? (kind === 'featureFlags' ? heldEnv?.flags : heldEnv?.segments)?.get(id) : undefined;
      skipped.push({ where: `${where}.${kind}[${j}]`, reason, ...(typeof id === 'string' ? { id } : {}), ...(previous ? { keptHeld: true } : {}) });
      return previous ? [previous.json] : [];
    });
  const secrets = Array.isArray(env['secrets'])
    ? env['secrets'].filter((secret, j) => {
        const reason = probe({ secrets: [secret] });
        if (reason !== null) skipped.push({ where: `${where}.secrets[${j}]`, reason });
        return reason === null;
      })
    : env['secrets'];
  return { ...env, secrets, featureFlags: keep('featureFlags', env['featureFlags']), segments: keep('segments', env['segments']) };
}

/** A patch's `featureFlags` or `segments`, without the invalid ones. Not an array: the message is malformed. */
function validItems(kind: 'flag' | 'segment', raw: unknown, where: string, skipped: SkippedItem[]): StoreItem[] {
  if (!Array.isArray(raw)) return parseItems(kind, raw, where);
  return raw.flatMap((item, i) => {
    try {
      return parseItems(kind, [item], where);
    } catch (error) {
      if (!(error instanceof DataValidationError)) throw error;
      const id = record(item)?.['id'];
      skipped.push({ where: `${where}[${i}]`, reason: error.message.replace(/^\w+\[0\]\.?\s*/, ''), ...(typeof id === 'string' ? { id } : {}) });
      return [];
    }
  });
}

/**
 * The data-sync request sent on every (re)connect. `full` asks for rp_full (timestamp 0), which
 * lets the agent reconcile deletions and scope changes that rp_patch cannot express (§6.6).
 */
export function dataSyncRequest(data: MemoryData, full: boolean): string {
  if (full || data.dataVersion === 0) return '{"messageType":"data-sync","data":{"timestamp":0}}';
  const envs = [...data.environments()].map((env) => ({ envId: env.envId, timestamp: env.version }));
  return JSON.stringify({ messageType: 'data-sync', data: { timestamp: data.dataVersion, envs } });
}

export const UPSTREAM_PING = '{"messageType":"ping","data":{}}';

export function statusMessage(agentId: string, status: string): string {
  return JSON.stringify({ messageType: 'rp-agent-status', data: { agentId, status } });
}

/** `ws://host/prefix` → `http://host/prefix` (the path prefix is kept, unlike the C# agent). */
export function httpBaseOf(streamingUri: URL): string {
  const base = new URL(streamingUri.href);
  base.protocol = base.protocol === 'wss:' ? 'https:' : 'http:';
  base.search = '';
  base.hash = '';
  return base.href.replace(/\/+$/, '');
}

export function relayProxySocketUrl(streamingUri: URL, apiKey: string): string {
  const base = new URL(streamingUri.href);
  base.search = '';
  base.hash = '';
  return `${base.href.replace(/\/+$/, '')}/streaming?type=relay-proxy&token=${apiKey}`;
}

/** First TCP keepalive probe after this much idle time: a dead peer or NAT entry is noticed by the kernel too. */
export const UPSTREAM_KEEPALIVE_MS = 30_000;

/**
 * Options of the relay-proxy WebSocket. `keepAlive`/`keepAliveInitialDelay` are not ws options:
 * ws hands its options to `net.connect`/`tls.connect`, which turn TCP keepalive on at connect.
 */
export function upstreamSocketOptions(options: { connectTimeoutMs: number; maxPayloadBytes: number }): ClientOptions & { keepAlive: boolean; keepAliveInitialDelay: number } {
  return {
    handshakeTimeout: options.connectTimeoutMs,
    perMessageDeflate: false,
    maxPayload: options.maxPayloadBytes,
    keepAlive: true,
    keepAliveInitialDelay: UPSTREAM_KEEPALIVE_MS,
  };
}

