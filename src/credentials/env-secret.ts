import { decodeCompactGuid } from './compact-guid.js';

const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

/** Structural parse of an environment secret (protocol §1.2): 44 chars, the last 22 a non-zero GUID. */
export function parseEnvSecret(secret: string | undefined): { envId: string } | null {
  if (secret === undefined || secret.trim() === '' || secret.length !== 44) return null;
  const envId = decodeCompactGuid(secret.slice(22));
  if (envId === null || envId === ZERO_GUID) return null;
  return { envId };
}
