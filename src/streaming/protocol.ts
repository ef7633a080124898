/** FeatBit streaming protocol (protocol.md §2): pure parsing and message building, no Nest. */

export type SdkType = 'server' | 'client';

export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  PolicyViolation: 1008,
  TooLarge: 1009,
  ServiceUnavailable: 1011,
  TryAgainLater: 1013,
  InvalidRequest: 4003,
} as const;

export const CloseReason = {
  InvalidRequest: 'invalid request, close by server',
  ServiceUnavailable: 'service unavailable, close by server',
  RateExceeded: 'message rate exceeded, close by server',
  InboundBudget: 'inbound buffers full, close by server',
} as const;

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface StreamingRequest {
  type: SdkType;
  token: string;
}

/** Validates the handshake query (§2.2 steps 1–3); token decoding and secret lookup come after. */
export function parseStreamingRequest(url: string | undefined): Parsed<StreamingRequest> {
  let params: URLSearchParams;
  try {
    params = new URL(url ?? '', 'ws://agent').searchParams;
  } catch {
    return { ok: false, reason: 'malformed url' };
  }
  const type = params.get('type');
  if (type !== 'server' && type !== 'client') return { ok: false, reason: `unsupported type "${type ?? ''}"` };
  const version = params.get('version');
  if (version !== null && version !== '' && version !== '1' && version !== '2') {
    return { ok: false, reason: `unsupported version "${version}"` };
  }
  const token = params.get('token');
  if (token === null || token.trim() === '') return { ok: false, reason: 'missing token' };
  return { ok: true, value: { type, token } };
}

export interface InboundMessage {
  /** Lower-cased: message types match case-insensitively (§2.4). */
  messageType: string;
  data: unknown;
}

/** §2.4: parse failure, a missing `messageType` or a missing `data` property → null (ignored). */
export function parseInbound(raw: string): InboundMessage | null {
  let message: unknown;
  try {
    message = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return null;
  const record = message as Record<string, unknown>;
  const messageType = record['messageType'];
  if (typeof messageType !== 'string' || !('data' in record)) return null;
  return { messageType: messageType.toLowerCase(), data: record['data'] };
}

/** int64 max as a double (2^63); JSON numbers beyond it cannot be a C# long. */
const INT64_MAX = 2 ** 63;

/** §2.5: absent, null, non-integer, string or bool → 0; an int64 integer → itself. */
export function requestTimestamp(data: unknown): number {
  if (typeof data !== 'object' || data === null) return 0;
  const value = (data as Record<string, unknown>)['timestamp'];
  if (typeof value !== 'number' || !Number.isInteger(value)) return 0;
  return Math.abs(value) < INT64_MAX ? value : 0;
}

/** The `user` property of a client data-sync request (validated by the evaluation module). */
export function requestUser(data: unknown): unknown {
  if (typeof data !== 'object' || data === null) return undefined;
  return (data as Record<string, unknown>)['user'];
}

/**
 * A client user is held by its connection for every later push, so its size is bounded: at most
 * `maxProperties` custom properties (the property name is matched case-insensitively, §2.5) and
 * `maxBytes` of JSON. Anything that is not an object is left to the user validation.
 */
export function userWithinBounds(user: unknown, maxBytes: number, maxProperties: number): boolean {
  if (typeof user !== 'object' || user === null) return true;
  for (const key of Object.keys(user)) {
    if (key.toLowerCase() !== 'customizedproperties') continue;
    const properties = (user as Record<string, unknown>)[key];
    if (Array.isArray(properties) && properties.length > maxProperties) return false;
  }
  const text = JSON.stringify(user);
  return text.length <= maxBytes && Buffer.byteLength(text) <= maxBytes;
}

export const PONG = '{"messageType":"pong","data":{}}';

export function echoMessage(data: unknown): string {
  return `{"messageType":"echo","data":${JSON.stringify(data) ?? 'null'}}`;
}
