import { ENV_SECRET_LENGTH, parseEnvSecret } from './env-secret.js';

/**
 * Streaming connection tokens (protocol §1.4): the secret with an obfuscated ms timestamp spliced
 * in at a random position. Decoding mirrors the ELS (`Streaming/Shared/Token.cs`, `TokenNumber.cs`).
 */

const DIGIT_CHARS = 'QBWSPHDXZU';
const DIGIT_OF = new Map([...DIGIT_CHARS].map((char, digit) => [char, digit]));
/** .NET `char.IsWhiteSpace`, which the reference uses for its "blank span decodes to 0" quirk. */
const DOTNET_BLANK = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;
/** Header fields are `byte`s in the reference code. */
const MAX_HEADER_VALUE = 255;

export type DecodedToken = { ok: true; secret: string; timestamp: number } | { ok: false; reason: string };

function encodeDigits(value: number, width: number): string {
  return [...String(value).padStart(width, '0')].map((digit) => DIGIT_CHARS.charAt(Number(digit))).join('');
}

/** Mapped digits → integer. An empty or blank span is 0 (reference quirk); any other char → null. */
function decodeDigits(text: string): number | null {
  if (DOTNET_BLANK.test(text)) return 0;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = DIGIT_OF.get(text.charAt(i));
    if (digit === undefined) return null;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Decodes and checks a token (rules 1–7 of §1.4). `nowMs` and `expirySeconds` bound the embedded
 * timestamp symmetrically, so tokens from the future are refused too. The `reason` is for logs.
 */
export function decodeStreamingToken(token: string, nowMs: number, expirySeconds: number): DecodedToken {
  if (token.length < 5) return { ok: false, reason: 'token shorter than its header' };
  const position = decodeDigits(token.slice(0, 3));
  const length = decodeDigits(token.slice(3, 5));
  if (position === null || length === null) return { ok: false, reason: 'bad character in token header' };
  if (position > MAX_HEADER_VALUE || length > MAX_HEADER_VALUE) return { ok: false, reason: 'token header out of range' };
  const payload = token.slice(5);
  if (payload.length < position + length) return { ok: false, reason: 'token payload shorter than its header' };
  const timestamp = decodeDigits(payload.slice(position, position + length));
  if (timestamp === null) return { ok: false, reason: 'bad character in token timestamp' };
  let secret = payload.slice(0, position) + payload.slice(position + length);
  const remainder = (payload.length - length) % 4;
  if (remainder !== 0) secret += '='.repeat(4 - remainder);
  if (secret.length !== ENV_SECRET_LENGTH) return { ok: false, reason: 'token secret has the wrong length' };
  if (Math.abs(nowMs - timestamp) > expirySeconds * 1000) return { ok: false, reason: 'token expired or from the future' };
  if (parseEnvSecret(secret) === null) return { ok: false, reason: 'token secret is malformed' };
  return { ok: true, secret, timestamp };
}

/**
 * Builds a token as the SDKs do, with the split position chosen by the caller (the SDKs use
 * `max(floor(random() * secret.length), 2)`); `start` is clamped to 2..secret.length.
 */
export function encodeStreamingToken(secret: string, timestampMs: number, start: number): string {
  if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) throw new RangeError(`bad timestamp: ${timestampMs}`);
  if (!Number.isInteger(start)) throw new RangeError(`bad start: ${start}`);
  const trimmed = secret.replace(/=+$/, '');
  const tsCode = encodeDigits(timestampMs, 0);
  const at = Math.max(2, Math.min(start, trimmed.length));
  return encodeDigits(at, 3) + encodeDigits(tsCode.length, 2) + trimmed.slice(0, at) + tsCode + trimmed.slice(at);
}
