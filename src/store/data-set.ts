/**
 * The data the agent serves: per environment, its secrets, flags and segments.
 * Plain functions and types; no Nest imports.
 */

export type SecretType = 'server' | 'client';

export interface Secret {
  type: SecretType;
  projectKey: string;
  envId: string;
  envKey: string;
  value: string;
}

export type ItemKind = 'flag' | 'segment';

/** A flag or segment exactly as received, plus what the store needs to index it. */
export interface StoreItem {
  kind: ItemKind;
  id: string;
  envId: string;
  /** `updatedAt` in ms; the item's version. */
  timestamp: number;
  /** The object as received (property order kept), passed to server SDKs verbatim. */
  json: Record<string, unknown>;
}

export interface EnvData {
  envId: string;
  secrets: Secret[];
  flags: StoreItem[];
  segments: StoreItem[];
}

export interface DataSet {
  envs: EnvData[];
}

export class DataValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataValidationError';
  }
}

const OFFSET_SUFFIX = /(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** `updatedAt` → ms. A date-time without an offset is UTC (protocol §6.11). Returns NaN when invalid. */
export function parseTimestamp(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.trunc(value) : Number.NaN;
  if (typeof value !== 'string') return Number.NaN;
  const text = value.trim();
  if (!ISO_DATE_TIME.test(text)) return Number.NaN;
  // JavaScript reads at most millisecond precision reliably; .NET writes seven fraction digits.
  const normalised = text.replace(/(\.\d{3})\d+/, '$1');
  return Date.parse(OFFSET_SUFFIX.test(normalised) ? normalised : `${normalised}Z`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Deepest nesting of objects and arrays accepted in a flag or segment, the item itself being level
 * 1 (FeatBit's own nest under 10). JSON.parse takes any depth a body allows, but JSON.stringify
 * and other recursive code overflow the stack at some thousands of levels: an item past that,
 * once stored, failed every full payload, backup and store write of its environment.
 */
export const MAX_ITEM_DEPTH = 64;

/** Whether `root` nests objects or arrays deeper than `max` levels; iterative, so no depth overflows it. */
function nestsDeeperThan(root: object, max: number): boolean {
  const values: object[] = [root];
  const depths: number[] = [1];
  const visit = (child: unknown, depth: number): boolean => {
    if (typeof child !== 'object' || child === null) return false;
    if (depth > max) return true;
    values.push(child);
    depths.push(depth);
    return false;
  };
  while (values.length > 0) {
    const value = values.pop()!;
    const depth = depths.pop()! + 1;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) if (visit(value[i], depth)) return true;
    } else {
      for (const key in value) if (visit((value as Record<string, unknown>)[key], depth)) return true;
    }
  }
  return false;
}

function toItem(kind: ItemKind, raw: unknown, envId: string, where: string): StoreItem {
  if (!isRecord(raw)) throw new DataValidationError(`${where} must be an object`);
  const id = raw['id'];
  if (typeof id !== 'string' || id.trim() === '') throw new DataValidationError(`${where}.id is required`);
  const itemEnvId = raw['envId'];
  if (typeof itemEnvId !== 'string' || itemEnvId.trim() === '') {
    throw new DataValidationError(`${where}.envId is required`);
  }
  if (raw['updatedAt'] === undefined || raw['updatedAt'] === null) {
    throw new DataValidationError(`${where}.updatedAt is required`);
  }
  const timestamp = parseTimestamp(raw['updatedAt']);
  if (Number.isNaN(timestamp)) throw new DataValidationError(`${where}.updatedAt is not a date-time`);
  if (kind === 'flag' && (typeof raw['key'] !== 'string' || raw['key'] === '')) {
    throw new DataValidationError(`${where}.key is required`);
  }
  if (nestsDeeperThan(raw, MAX_ITEM_DEPTH)) throw new DataValidationError(`${where} nests objects or arrays deeper than ${MAX_ITEM_DEPTH} levels`);
  // Items are stored under the environment they were delivered for (shared segments arrive per env).
  return { kind, id, envId, timestamp, json: raw };
}

function toSecrets(raw: unknown, envId: string, where: string): Secret[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((entry, i) => {
    const at = `${where}.secrets[${i}]`;
    if (!isRecord(entry)) throw new DataValidationError(`${at} must be an object`);
    const type = entry['type'];
    const value = entry['value'];
    if (type !== 'server' && type !== 'client') throw new DataValidationError(`${at}.type must be "server" or "client"`);
    if (typeof value !== 'string' || value === '') throw new DataValidationError(`${at}.value is required`);
    const text = (name: string): string => (typeof entry[name] === 'string' ? (entry[name]) : '');
    return { type, value, projectKey: text('projectKey'), envKey: text('envKey'), envId: text('envId') || envId };
  });
}

function toEnv(raw: unknown, index: number, legacy: boolean): EnvData {
  const where = `items[${index}]`;
  if (!isRecord(raw)) throw new DataValidationError(`${where} must be an object`);
  const envId = raw['envId'];
  if (typeof envId !== 'string' || envId.trim() === '') throw new DataValidationError(`${where}.envId is required`);
  const flagsField = legacy ? 'flags' : 'featureFlags';
  const flags = raw[flagsField];
  const segments = raw['segments'];
  if (!Array.isArray(flags)) throw new DataValidationError(`${where}.${flagsField} must be an array`);
  if (!Array.isArray(segments)) throw new DataValidationError(`${where}.segments must be an array`);
  return {
    envId,
    secrets: legacy ? [] : toSecrets(raw['secrets'], envId, where),
    flags: flags.map((f, i) => toItem('flag', f, envId, `${where}.${flagsField}[${i}]`)),
    segments: segments.map((s, i) => toItem('segment', s, envId, `${where}.segments[${i}]`)),
  };
}

/**
 * Parses a bootstrap body (protocol §4.2, also the upstream `rp_full` data) or the legacy v1 bare
 * array (§10). Throws a DataValidationError naming the first problem; never returns partial data.
 */
export function parseBootstrap(body: unknown): DataSet {
  if (Array.isArray(body)) return { envs: body.map((env, i) => toEnv(env, i, true)) };
  if (!isRecord(body)) throw new DataValidationError('body must be a JSON object or a legacy array');
  if (typeof body['eventType'] !== 'string') throw new DataValidationError('eventType is required');
  const items = body['items'];
  if (!Array.isArray(items)) throw new DataValidationError('items must be an array');
  return { envs: mergeEnvs(items.map((env, i) => toEnv(env, i, false))) };
}

/** Parses the items of an upstream patch (`featureFlags`/`segments` arrays of one message). */
export function parseItems(kind: ItemKind, raw: unknown, where: string): StoreItem[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new DataValidationError(`${where} must be an array`);
  return raw.map((item, i) => {
    const envId = isRecord(item) && typeof item['envId'] === 'string' ? item['envId'] : '';
    return toItem(kind, item, envId, `${where}[${i}]`);
  });
}

/** Several entries for the same env (rp_patch repeats them per secret) become one. */
function mergeEnvs(envs: EnvData[]): EnvData[] {
  const byId = new Map<string, EnvData>();
  for (const env of envs) {
    const seen = byId.get(env.envId);
    if (!seen) {
      byId.set(env.envId, { ...env });
      continue;
    }
    seen.secrets = [...seen.secrets, ...env.secrets.filter((s) => !seen.secrets.some((t) => t.value === s.value))];
    seen.flags = [...seen.flags, ...env.flags];
    seen.segments = [...seen.segments, ...env.segments];
  }
  return [...byId.values()];
}

/** The data set in bootstrap format (protocol §4.3), every stored environment included. */
export function toBootstrapBody(data: DataSet): Record<string, unknown> {
  return {
    eventType: 'rp_full',
    items: data.envs.map((env) => ({
      envId: env.envId,
      secrets: env.secrets,
      featureFlags: env.flags.map((f) => f.json),
      segments: env.segments.map((s) => s.json),
    })),
  };
}
