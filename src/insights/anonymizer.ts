import { createHmac } from 'node:crypto';

/** What INSIGHTS_MODE=anonymize lets leave the agent (documented in the README). */
export interface AnonymizeOptions {
  /** HMAC-SHA256 key: the same key gives the same pseudonym, so experiments still count unique users. */
  hashKey: string;
  /** Custom properties kept as they are; all others are dropped. */
  keepProperties: ReadonlySet<string>;
}

type Json = Record<string, unknown>;

function record(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

/** A pseudonymous key: HMAC-SHA256 of the keyId, hex. */
export function pseudonym(keyId: string, hashKey: string): string {
  return createHmac('sha256', hashKey).update(keyId).digest('hex');
}

/**
 * Rewrites one insight so that no raw identity leaves: `user.keyId` becomes its keyed hash,
 * `user.name` becomes the same hash, custom properties are dropped unless listed. Flag and event
 * data (`variations`, `metrics`) are kept: they carry no user identity.
 */
export function anonymizeInsight(insight: Json, options: AnonymizeOptions): Json {
  const user = record(insight['user']);
  if (!user) return insight;
  const keyId = typeof user['keyId'] === 'string' ? user['keyId'] : '';
  const hashed = pseudonym(keyId, options.hashKey);
  const properties = Array.isArray(user['customizedProperties']) ? (user['customizedProperties'] as unknown[]) : [];
  const kept = properties.filter((p) => {
    const name = record(p)?.['name'];
    return typeof name === 'string' && options.keepProperties.has(name);
  });
  return { ...insight, user: { keyId: hashed, name: hashed, customizedProperties: kept } };
}
