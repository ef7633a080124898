import { parseEnvSecret } from './env-secret.js';

/** Streaming connection tokens (protocol §1.4): the secret with an obfuscated timestamp inside. */

const ENCODE = 'QBWSPHDXZU';
const DECODE = new Map([...ENCODE].map((char, digit) => [char, digit]));

function encodeDigits(value: number, width: number): string {
  return [...String(value).padStart(width, '0')].map((d) => ENCODE[Number(d)]).join('');
}

/** Decodes mapped digits; an empty or blank span is 0 (reference quirk); any other char → null. */
function decodeDigits(text: string): number | null {
  if (text.trim() === '') return 0;
  let value = 0;
  for (const char of text) {
    const digit = DECODE.get(char);
    if (digit === undefined) return null;
    value = value * 10 + digit;
  }
  return value;
}

export type DecodedToken = { ok: true; secret: string; timestamp: number } | { ok: false; reason: string };

export function decodeStreamingToken(token: string, nowMs: number, expirySeconds: number): DecodedToken {
  if (token.length < 5) return { ok: false, reason: 'token too short' };
  const position = decodeDigits(token.slice(0, 3));
  const length = decodeDigits(token.slice(3, 5));
  if (position === null || length === null) return { ok: false, reason: 'bad token header' };
  if (position > 255 || length > 255) return { ok: false, reason: 'token header out of range' };
  const payload = token.slice(5);
  if (payload.length < position + length) return { ok: false, reason: 'token too short for its header' };
  const timestamp = decodeDigits(payload.slice(position, position + length));
  if (timestamp === null) return { ok: false, reason: 'bad token timestamp' };
  let secret = payload.slice(0, position) + payload.slice(position + length);
  const remainder = (payload.length - length) % 4;
  if (remainder !== 0) secret += '='.repeat(4 - remainder);
  if (secret.length !== 44) return { ok: false, reason: 'bad secret length' };
  if (Math.abs(nowMs - timestamp) > expirySeconds * 1000) return { ok: false, reason: 'token expired' };
  if (!parseEnvSecret(secret)) return { ok: false, reason: 'malformed secret' };
  return { ok: true, secret, timestamp };
}

/** Builds a token as the SDKs do, with a chosen split position (`start`, 2..len-1). */
export function encodeStreamingToken(secret: string, timestampMs: number, start: number): string {
  const trimmed = secret.replace(/=+$/, '');
  const tsCode = encodeDigits(timestampMs, 0);
  const at = Math.max(2, Math.min(start, trimmed.length));
  return encodeDigits(at, 3) + encodeDigits(tsCode.length, 2) + trimmed.slice(0, at) + tsCode + trimmed.slice(at);
}
