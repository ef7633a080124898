import type { Secret } from '../store/data-set.js';
import type { MemoryData } from '../store/memory-data.js';
import { parseEnvSecret } from '../credentials/env-secret.js';
import { ForbiddenError, UnauthorizedError } from '../common/agent.errors.js';

/**
 * SDK HTTP authentication (protocol §3.1): the raw secret in `Authorization`. Stricter than the
 * C# agent: the secret must be one this agent holds. Client and server secrets both pass; server
 * endpoints use `authenticateServerSdk`.
 */
export function authenticateSdk(data: MemoryData, header: string | string[] | undefined): Secret {
  // The held secrets are a map by value: a hit is a valid secret, no parse needed on the hot path.
  const held = typeof header === 'string' ? data.secret(header) : undefined;
  if (held) return held;
  const value = typeof header === 'string' ? header.trim() : undefined;
  if (!value || !parseEnvSecret(value)) throw new UnauthorizedError('missing or malformed environment secret');
  const secret = data.secret(value);
  if (!secret) throw new UnauthorizedError('unknown environment secret');
  return secret;
}

/**
 * Server endpoints hand out raw flags and segments (targeted keys, segment members, rule values):
 * server secrets only. Client secrets ship inside web pages and apps, so they are public; one is a
 * known credential without the right to this data, hence 403 rather than 401 (the SDK sees a
 * failure either way; an operator sees a key of the wrong type rather than an unknown one).
 */
export function authenticateServerSdk(data: MemoryData, header: string | string[] | undefined): Secret {
  const secret = authenticateSdk(data, header);
  if (secret.type !== 'server') throw new ForbiddenError('server endpoints need a server secret; client secrets are public');
  return secret;
}

const DIGITS = /^-?\d+$/;

/** `?timestamp=` of the latest-all endpoints: absent → 0; not an integer → null (400). */
export function parseTimestampQuery(value: unknown): number | null {
  if (value === undefined || value === '') return 0;
  if (typeof value !== 'string' || !DIGITS.test(value)) return null;
  return Number(value);
}
