/** Agent ↔ FeatBit evaluation server messages (protocol §6.5–§6.6). Plain functions, no Nest. */
import { DataValidationError, parseBootstrap, parseItems, type DataSet, type StoreItem } from '../store/data-set.js';
import type { MemoryData } from '../store/memory-data.js';

export type UpstreamEvent =
  | { kind: 'full'; data: DataSet }
  | { kind: 'patch'; items: StoreItem[] }
  | { kind: 'pong' }
  | { kind: 'ignored'; why: string };

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** Parses one upstream text frame. Throws DataValidationError for a malformed data-sync. */
export function parseUpstreamMessage(text: string): UpstreamEvent {
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
      return { kind: 'full', data: parseBootstrap({ eventType, items: data['items'] }) };
    case 'rp_patch': {
      // Same item shape as rp_full, with secrets always empty: only flags and segments count.
      const parsed = parseBootstrap({ eventType, items: data['items'] });
      return { kind: 'patch', items: parsed.envs.flatMap((env) => [...env.flags, ...env.segments]) };
    }
    case 'patch':
      return {
        kind: 'patch',
        items: [...parseItems('flag', data['featureFlags'], 'featureFlags'), ...parseItems('segment', data['segments'], 'segments')],
      };
    default:
      return { kind: 'ignored', why: `eventType ${String(eventType)}` };
  }
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
