import { createHash, timingSafeEqual } from 'node:crypto';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * The relay proxy key check (protocol §4): `Authorization: <API_KEY>`, exact, compared in constant
 * time. Shared by the admin guard, the bootstrap's pre-body hook and the status JSON.
 */
export class AdminKey {
  private readonly expected?: Buffer;

  constructor(apiKey: string | undefined) {
    this.expected = apiKey ? digest(apiKey) : undefined;
  }

  /** False when no key is configured, the header is absent, or it differs. */
  matches(header: string | string[] | undefined): boolean {
    return this.expected !== undefined && typeof header === 'string' && timingSafeEqual(digest(header), this.expected);
  }
}
