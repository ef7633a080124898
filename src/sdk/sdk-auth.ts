import type { Secret } from '../store/data-set.js';
import type { MemoryData } from '../store/memory-data.js';
import { parseEnvSecret } from '../credentials/env-secret.js';
import { ForbiddenError, UnauthorizedError } from '../common/agent.errors.js';

/** Why a presented secret was refused: absent or not a secret's shape, or not one this agent holds. */
export type SecretRefusal = 'malformed' | 'unknown';

export const REFUSAL_DETAIL = {
  malformed: 'missing or malformed environment secret',
  unknown: 'unknown environment secret',
  clientOnServer: 'server endpoints need a server secret; client secrets are public',
} as const;

/**
 * The held secret `header` presents, or why not; throws nothing (the fastify gate answers refusals
 * before the handler). The held secrets are a map by value: a hit is a valid secret, no parse
 * needed on the hot path.
 */
export function findSdkSecret(data: MemoryData, header: string | string[] | undefined): Secret | SecretRefusal {
  const held = typeof header === 'string' ? data.secret(header) : undefined;
  if (held) return held;
  const value = typeof header === 'string' ? header.trim() : undefined;
  if (!value || !parseEnvSecret(value)) return 'malformed';
  return data.secret(value) ?? 'unknown';
}

/**
 * SDK HTTP authentication (protocol §3.1): the raw secret in `Authorization`. Stricter than the
 * C# agent: the secret must be one this agent holds. Client and server secrets both pass; server
 * endpoints use `authenticateServerSdk`.
 */
export function authenticateSdk(data: MemoryData, header: string | string[] | undefined): Secret {
  const found = findSdkSecret(data, header);
  if (typeof found === 'string') throw new UnauthorizedError(REFUSAL_DETAIL[found]);
  return found;
}

/**
 * Server endpoints hand out raw flags and segments (targeted keys, segment members, rule values):
 * server secrets only. Client secrets ship inside web pages and apps, so they are public; one is a
 * known credential without the right to this data, hence 403 rather than 401 (the SDK sees a
 * failure either way; an operator sees a key of the wrong type rather than an unknown one).
 */
export function authenticateServerSdk(data: MemoryData, header: string | string[] | undefined): Secret {
  const secret = authenticateSdk(data, header);
  if (secret.type !== 'server') throw new ForbiddenError(REFUSAL_DETAIL.clientOnServer);
  return secret;
}

/** A header fastify may hand over as a list when repeated: the first value. */
export function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** OFREP's secret: `Authorization` (plain or `Bearer`) or `X-API-Key`. */
export function ofrepSecretOf(authorization: string | undefined, apiKey: string | undefined): string | undefined {
  const value = authorization?.trim() || apiKey?.trim();
  return value?.replace(/^Bearer\s+/i, '');
}

const DIGITS = /^-?\d+$/;

/** `?timestamp=` of the latest-all endpoints: absent → 0; not an integer → null (400). */
export function parseTimestampQuery(value: unknown): number | null {
  if (value === undefined || value === '') return 0;
  if (typeof value !== 'string' || !DIGITS.test(value)) return null;
  return Number(value);
}
