/** End users of client SDKs (evaluation.md §1.4, protocol.md §2.5). Plain functions, no Nest. */

export interface UserProperty {
  name: string;
  value: string | null;
}

export interface EndUser {
  keyId: string;
  name: string | null;
  customizedProperties: UserProperty[];
}

/** A user ready for evaluation: property lookup by exact name, first entry wins (§3). */
export interface PreparedUser {
  readonly user: EndUser;
  readonly keyId: string;
  readonly name: string | null;
  readonly props: ReadonlyMap<string, string | null>;
  /** `JSON.stringify(keyId)`, for payloads. */
  readonly keyIdJson: string;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** Looks up a property name case-insensitively (protocol §2.5). */
function field(object: Record<string, unknown>, lowerName: string): unknown {
  if (lowerName in object) return object[lowerName];
  for (const key of Object.keys(object)) if (key.toLowerCase() === lowerName) return object[key];
  return undefined;
}

/** Strings as they are; numbers and booleans as their JSON text; null stays null; else invalid. */
function scalarText(value: unknown): string | null | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  return undefined;
}

/**
 * Validates a client user: an object whose `keyId` is a non-blank string; `name` and
 * `customizedProperties` optional. Returns null when invalid (the agent then sends nothing).
 */
export function parseEndUser(raw: unknown): EndUser | null {
  const object = record(raw);
  if (!object) return null;
  const keyId = field(object, 'keyid');
  if (typeof keyId !== 'string' || keyId.trim() === '') return null;
  const name = scalarText(field(object, 'name'));
  if (name === undefined) return null;
  const rawProps = field(object, 'customizedproperties');
  const customizedProperties: UserProperty[] = [];
  if (rawProps !== null && rawProps !== undefined) {
    if (!Array.isArray(rawProps)) return null;
    for (const entry of rawProps) {
      const prop = record(entry);
      if (!prop) return null;
      const propName = field(prop, 'name');
      const value = scalarText(field(prop, 'value'));
      if (typeof propName !== 'string' || value === undefined) return null;
      customizedProperties.push({ name: propName, value });
    }
  }
  return { keyId, name, customizedProperties };
}

export function prepareUser(user: EndUser): PreparedUser {
  const props = new Map<string, string | null>();
  for (const p of user.customizedProperties) if (!props.has(p.name)) props.set(p.name, p.value);
  return { user, keyId: user.keyId, name: user.name, props, keyIdJson: JSON.stringify(user.keyId) };
}

/** valueOf(U, property) of evaluation.md §3: missing custom attribute → "", missing name → null. */
export function valueOf(user: PreparedUser, property: string | null | undefined): string | null {
  if (property === null || property === undefined || property.trim() === '') return '';
  if (property === 'keyId') return user.keyId;
  if (property === 'name') return user.name;
  return user.props.get(property) ?? '';
}
