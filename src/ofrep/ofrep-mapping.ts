/** OpenFeature Remote Evaluation Protocol (OFREP v1) ↔ FeatBit mapping. Plain functions, no Nest. */
import type { EndUser, UserProperty } from '../evaluation/end-user.js';
import type { CompiledFlag, EvalResult } from '../evaluation/evaluator.js';

export type OfrepErrorCode = 'PARSE_ERROR' | 'TARGETING_KEY_MISSING' | 'INVALID_CONTEXT' | 'FLAG_NOT_FOUND' | 'GENERAL' | 'TYPE_MISMATCH';

export interface OfrepSuccess {
  key: string;
  value?: unknown;
  reason: 'TARGETING_MATCH' | 'SPLIT' | 'DEFAULT' | 'DISABLED';
  variant?: string;
  metadata: Record<string, string | number | boolean>;
}

export interface OfrepFailure {
  key: string;
  errorCode: OfrepErrorCode;
  errorDetails: string;
}

export type ContextResult = { ok: true; user: EndUser } | { ok: false; errorCode: OfrepErrorCode; errorDetails: string };

/**
 * The evaluation context as a FeatBit user: `targetingKey` → `keyId`, `name` → `name`, every other
 * attribute → a custom property (strings as they are, numbers and booleans as their JSON text).
 */
export function contextToUser(body: unknown): ContextResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, errorCode: 'PARSE_ERROR', errorDetails: 'the body must be a JSON object' };
  const context = (body as Record<string, unknown>)['context'] ?? {};
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    return { ok: false, errorCode: 'INVALID_CONTEXT', errorDetails: 'context must be an object' };
  }
  const entries = context as Record<string, unknown>;
  const keyId = entries['targetingKey'];
  if (typeof keyId !== 'string' || keyId.trim() === '') {
    return { ok: false, errorCode: 'TARGETING_KEY_MISSING', errorDetails: 'context.targetingKey is required' };
  }
  const properties: UserProperty[] = [];
  let name: string | null = null;
  for (const [key, value] of Object.entries(entries)) {
    if (key === 'targetingKey' || value === null || value === undefined) continue;
    let text: string;
    if (typeof value === 'string') text = value;
    else if (typeof value === 'number' || typeof value === 'boolean') text = JSON.stringify(value);
    else return { ok: false, errorCode: 'INVALID_CONTEXT', errorDetails: `context.${key} must be a string, number or boolean` };
    if (key === 'name') name = text;
    else properties.push({ name: key, value: text });
  }
  return { ok: true, user: { keyId, name, customizedProperties: properties } };
}

/** The variation's string value typed as the flag's variationType says. */
export function typedValue(variationType: string, value: string): { ok: true; value: unknown } | { ok: false } {
  switch (variationType) {
    case 'boolean': {
      const lower = value.toLowerCase();
      return lower === 'true' ? { ok: true, value: true } : lower === 'false' ? { ok: true, value: false } : { ok: false };
    }
    case 'number': {
      const n = Number(value);
      return value.trim() !== '' && Number.isFinite(n) ? { ok: true, value: n } : { ok: false };
    }
    case 'json':
      try {
        const parsed: unknown = JSON.parse(value);
        return typeof parsed === 'object' && parsed !== null ? { ok: true, value: parsed } : { ok: false };
      } catch {
        return { ok: false };
      }
    default:
      return { ok: true, value };
  }
}

/** Whether the rule that served `result` splits users over several variations. */
function isSplit(flag: CompiledFlag, result: EvalResult): boolean {
  const rule = result.matchReason === 'default' ? flag.fallthrough : flag.rules.find((r) => r.name === result.matchReason);
  if (!rule) return false;
  return rule.variations.filter((v) => v.to - v.from > 0).length > 1;
}

function reasonOf(flag: CompiledFlag, result: EvalResult): OfrepSuccess['reason'] {
  switch (result.matchReason) {
    case 'flag disabled':
      return 'DISABLED';
    case 'targeted':
      return 'TARGETING_MATCH';
    case 'default':
    case 'flag archived':
      return isSplit(flag, result) ? 'SPLIT' : 'DEFAULT';
    default:
      return isSplit(flag, result) ? 'SPLIT' : 'TARGETING_MATCH';
  }
}

/** One OFREP evaluation of a FeatBit result. Archived flags answer without a value: use the code default. */
export function toOfrep(flag: CompiledFlag, result: EvalResult): OfrepSuccess | OfrepFailure {
  const metadata = { featbitMatchReason: result.matchReason, sendToExperiment: result.sendToExperiment };
  const variation = result.variation;
  if (flag.isArchived || variation === null) return { key: flag.key, reason: 'DEFAULT', metadata };
  const type = typeof flag.json['variationType'] === 'string' ? (flag.json['variationType']) : 'string';
  const typed = typedValue(type, variation.value);
  if (!typed.ok) return { key: flag.key, errorCode: 'TYPE_MISMATCH', errorDetails: `variation value does not parse as ${type}` };
  return { key: flag.key, value: typed.value, reason: reasonOf(flag, result), variant: variation.id, metadata };
}

/** Per variation: its OFREP value as JSON text, or null when it does not parse as the flag's type. */
const valueJsonCache = new WeakMap<object, string | null>();

function valueJson(flag: CompiledFlag, variation: { value: string }): string | null {
  let text = valueJsonCache.get(variation);
  if (text === undefined) {
    const type = typeof flag.json['variationType'] === 'string' ? (flag.json['variationType']) : 'string';
    const typed = typedValue(type, variation.value);
    text = typed.ok ? JSON.stringify(typed.value) : null;
    valueJsonCache.set(variation, text);
  }
  return text;
}

const keyJsonCache = new WeakMap<CompiledFlag, string>();

/**
 * `toOfrep` serialised, from fragments cached per compiled flag and variation: the bulk endpoint
 * answers every flag of an environment per request.
 */
export function toOfrepJson(flag: CompiledFlag, result: EvalResult): string {
  let keyJson = keyJsonCache.get(flag);
  if (keyJson === undefined) {
    keyJson = JSON.stringify(flag.key);
    keyJsonCache.set(flag, keyJson);
  }
  const metadata = `"metadata":{"featbitMatchReason":${result.reasonJson},"sendToExperiment":${result.sendToExperiment ? 'true' : 'false'}}`;
  const variation = result.variation;
  if (flag.isArchived || variation === null) return `{"key":${keyJson},"reason":"DEFAULT",${metadata}}`;
  const value = valueJson(flag, variation);
  if (value === null) return JSON.stringify(toOfrep(flag, result));
  return `{"key":${keyJson},"value":${value},"reason":"${reasonOf(flag, result)}","variant":${variation.idJson},${metadata}}`;
}
