import type { Secret } from '../store/data-set.js';
import type { MemoryData } from '../store/memory-data.js';
import { parseEnvSecret } from '../credentials/env-secret.js';
import { UnauthorizedError } from '../common/agent.errors.js';

/**
 * SDK HTTP authentication (protocol §3.1): the raw secret in `Authorization`. Stricter than the
 * C# agent: the secret must be one this agent holds. The server/client type is not checked.
 */
export function authenticateSdk(data: MemoryData, header: string | string[] | undefined): Secret {
  const value = typeof header === 'string' ? header.trim() : undefined;
  if (!value || !parseEnvSecret(value)) throw new UnauthorizedError('missing or malformed environment secret');
  const secret = data.secret(value);
  if (!secret) throw new UnauthorizedError('unknown environment secret');
  return secret;
}

const DIGITS = /^-?\d+$/;

/** `?timestamp=` of the latest-all endpoints: absent → 0; not an integer → null (400). */
export function parseTimestampQuery(value: unknown): number | null {
  if (value === undefined || value === '') return 0;
  if (typeof value !== 'string' || !DIGITS.test(value)) return null;
  return Number(value);
}
