import { decodeCompactGuid } from './compact-guid.js';

const ZERO_GUID = '00000000-0000-0000-0000-000000000000';
export const ENV_SECRET_LENGTH = 44;

/**
 * Structural parse of an environment secret (protocol §1.2): non-blank, exactly 44 characters,
 * and characters 22..43 the compact form of a non-zero GUID, which is the env id. It says nothing
 * about whether the secret exists or whether it is a server or a client secret.
 */
export function parseEnvSecret(secret: string | undefined): { envId: string } | null {
  // A blank 44-character string cannot decode below, so no separate blank check is needed.
  if (secret === undefined || secret.length !== ENV_SECRET_LENGTH) return null;
  const envId = decodeCompactGuid(secret.slice(22));
  if (envId === null || envId === ZERO_GUID) return null;
  return { envId };
}
