/**
 * FeatBit flag evaluation, as the FeatBit evaluation server computes it (evaluation.md). Flags and
 * segments are compiled once per data change; evaluating then allocates almost nothing.
 * Plain TypeScript, no Nest.
 */
import { inRollout } from './dispatch.js';
import { valueOf, type PreparedUser } from './end-user.js';
import { parseDotNetDouble, parseDotNetDoubleCached } from './numbers.js';
import { regexCondition } from './regex.js';

export const IN_SEGMENT = 'User is in segment';
export const NOT_IN_SEGMENT = 'User is not in segment';
/** Patterns longer than this are refused (condition false); see regex.ts. */
export { MAX_REGEX_LENGTH } from './regex.js';

export interface Variation {
  id: string;
  value: string;
  idJson: string;
  valueJson: string;
}

export interface EvalContext {
  segment(id: string): CompiledSegment | undefined;
  /** Segment membership of the current user, memoised for one evaluation pass. */
  readonly memo: Map<string, boolean>;
}

type Predicate = (user: PreparedUser, ctx: EvalContext) => boolean;

export interface CompiledSegment {
  id: string;
  timestamp: number;
  excluded: ReadonlySet<string>;
  included: ReadonlySet<string>;
  rules: Predicate[][];
}

interface CompiledRollout {
  variation: Variation | null;
  from: number;
  to: number;
  exptRollout: number;
}

interface CompiledRule {
  name: string;
  reasonJson: string;
  dispatchKey: string | null;
  includedInExpt: boolean;
  conditions: Predicate[];
  variations: CompiledRollout[];
}

export interface CompiledFlag {
  key: string;
  timestamp: number;
  json: Record<string, unknown>;
  isArchived: boolean;
  isEnabled: boolean;
  disabledVariation: Variation | null;
  targets: ReadonlyMap<string, Variation | null>;
  rules: CompiledRule[];
  fallthrough: CompiledRule;
  exptIncludeAllTargets: boolean;
  /** Ids of segments named by this flag's rules. */
  segmentIds: ReadonlySet<string>;
  /** The static parts of the client payload entry (protocol §2.8). */
  entryPrefix: string;
  /** `,"variationType":"…","variationId":` */
  entryType: string;
  entrySuffix: string;
}

export interface EvalResult {
  /** null: no variation (archived, or an unknown variation id). */
  variation: Variation | null;
  matchReason: string;
  reasonJson: string;
  sendToExperiment: boolean;
}

const EMPTY_VARIATION: Variation = { id: '', value: '', idJson: '""', valueJson: '""' };

type Json = Record<string, unknown>;

function obj(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

// ---- conditions (§4) ----

const FALSE: Predicate = () => false;

function parseStringArray(text: string): string[] | null {
  try {
    const parsed: unknown = JSON.parse(text);
    if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string')) return null;
    return parsed;
  } catch {
    return null;
  }
}

function asciiEqualsIgnoreCase(value: string, lower: string): boolean {
  if (value.length !== lower.length) return false;
  for (let i = 0; i < value.length; i++) {
    let c = value.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Compiles one plain operator into a test of the user value (never throws at evaluation). */
function compileOperator(op: string | null, c: string, owner: string): ((u: string) => boolean) | null {
  switch (op) {
    case 'Equal':
      return (u) => u === c;
    case 'NotEqual':
      return (u) => u !== c;
    case 'Contains':
      return (u) => u.includes(c);
    case 'NotContain':
      return (u) => !u.includes(c);
    case 'StartsWith':
      return (u) => u.startsWith(c);
    case 'EndsWith':
      return (u) => u.endsWith(c);
    case 'MatchRegex':
    case 'NotMatchRegex':
      // Linear time (RE2), bounded input; a pattern RE2 cannot run is false for both operators.
      return regexCondition(c, op === 'NotMatchRegex', owner);
    case 'IsOneOf':
    case 'NotOneOf': {
      if (c === 'null') return op === 'IsOneOf' ? null : () => true;
      const list = parseStringArray(c);
      if (!list) return null;
      const set = new Set(list);
      return op === 'IsOneOf' ? (u) => set.has(u) : (u) => !set.has(u);
    }
    case 'IsTrue':
      return (u) => asciiEqualsIgnoreCase(u, 'true');
    case 'IsFalse':
      return (u) => asciiEqualsIgnoreCase(u, 'false');
    case 'LessThan':
    case 'LessEqualThan':
    case 'BiggerThan':
    case 'BiggerEqualThan': {
      const right = parseDotNetDouble(c);
      if (Number.isNaN(right)) return null;
      switch (op) {
        case 'LessThan':
          return (u) => parseDotNetDoubleCached(u) < right;
        case 'LessEqualThan':
          return (u) => parseDotNetDoubleCached(u) <= right;
        case 'BiggerThan':
          return (u) => parseDotNetDoubleCached(u) > right;
        case 'BiggerEqualThan':
          return (u) => parseDotNetDoubleCached(u) >= right;
      }
      return null;
    }
    case null:
    default:
      return null;
  }
}

function segmentIdsOf(value: unknown): string[] {
  if (typeof value !== 'string') return [];
  return parseStringArray(value) ?? [];
}

/** `owner` names the flag or segment holding the condition, for reports of unsupported patterns. */
function compileCondition(raw: unknown, allowSegments: boolean, segmentIds: Set<string>, owner: string): Predicate {
  const condition = obj(raw);
  if (!condition) return FALSE;
  const property = str(condition['property']);
  if (property === IN_SEGMENT || property === NOT_IN_SEGMENT) {
    // Segment rules cannot reference segments; such a condition is false there.
    if (!allowSegments) return FALSE;
    const ids = segmentIdsOf(condition['value']);
    for (const id of ids) segmentIds.add(id);
    const inAny: Predicate = (user, ctx) => ids.some((id) => isInSegment(id, user, ctx));
    return property === IN_SEGMENT ? inAny : (user, ctx) => !inAny(user, ctx);
  }
  const value = str(condition['value']);
  if (value === null) return FALSE;
  const test = compileOperator(str(condition['op']), value, owner);
  if (!test) return FALSE;
  return (user) => {
    const u = valueOf(user, property);
    return u !== null && test(u);
  };
}

function allTrue(conditions: Predicate[], user: PreparedUser, ctx: EvalContext): boolean {
  for (const condition of conditions) if (!condition(user, ctx)) return false;
  return true;
}

// ---- segments (§5) ----

export function compileSegment(raw: Json, timestamp: number): CompiledSegment | null {
  const id = str(raw['id']);
  if (id === null) return null;
  const unused = new Set<string>();
  return {
    id,
    timestamp,
    excluded: new Set(arr(raw['excluded']).filter((k): k is string => typeof k === 'string')),
    included: new Set(arr(raw['included']).filter((k): k is string => typeof k === 'string')),
    rules: arr(raw['rules']).map((rule) => arr(obj(rule)?.['conditions']).map((c) => compileCondition(c, false, unused, `segment ${id}`))),
  };
}

function isInSegment(id: string, user: PreparedUser, ctx: EvalContext): boolean {
  const memo = ctx.memo.get(id);
  if (memo !== undefined) return memo;
  const segment = ctx.segment(id);
  // A segment the agent does not hold: the user is not in it.
  let result = false;
  if (segment && !segment.excluded.has(user.keyId)) {
    result = segment.included.has(user.keyId) || segment.rules.some((rule) => allTrue(rule, user, ctx));
  }
  ctx.memo.set(id, result);
  return result;
}

// ---- flags ----

function variationsOf(raw: Json): Map<string, Variation> {
  const byId = new Map<string, Variation>();
  for (const entry of arr(raw['variations'])) {
    const v = obj(entry);
    const id = str(v?.['id']);
    if (!v || id === null || byId.has(id)) continue;
    const value = str(v['value']) ?? '';
    byId.set(id, { id, value, idJson: JSON.stringify(id), valueJson: JSON.stringify(value) });
  }
  return byId;
}

function compileRollouts(raw: unknown, byId: Map<string, Variation>): CompiledRollout[] {
  return arr(raw).map((entry) => {
    const rv = obj(entry) ?? {};
    const rollout = arr(rv['rollout']);
    const id = str(rv['id']);
    return {
      variation: id === null ? null : (byId.get(id) ?? null),
      from: num(rollout[0]),
      to: num(rollout[1]),
      exptRollout: num(rv['exptRollout']),
    };
  });
}

function compileRule(raw: unknown, name: string, byId: Map<string, Variation>, segmentIds: Set<string>, owner: string): CompiledRule {
  const rule = obj(raw) ?? {};
  return {
    name,
    reasonJson: JSON.stringify(name),
    dispatchKey: str(rule['dispatchKey']),
    includedInExpt: rule['includedInExpt'] === true,
    conditions: arr(rule['conditions']).map((c) => compileCondition(c, true, segmentIds, owner)),
    variations: compileRollouts(rule['variations'], byId),
  };
}

/** Compiles a flag; null when it lacks what evaluation needs (`key`): such a flag is skipped. */
export function compileFlag(raw: Json, timestamp: number): CompiledFlag | null {
  const key = str(raw['key']);
  if (key === null || key === '') return null;
  const byId = variationsOf(raw);
  const segmentIds = new Set<string>();
  const targets = new Map<string, Variation | null>();
  for (const entry of arr(raw['targetUsers'])) {
    const target = obj(entry);
    const variationId = str(target?.['variationId']);
    const variation = variationId === null ? null : (byId.get(variationId) ?? null);
    for (const keyId of arr(target?.['keyIds'])) if (typeof keyId === 'string' && !targets.has(keyId)) targets.set(keyId, variation);
  }
  const rules = arr(raw['rules']).map((rule) => compileRule(rule, str(obj(rule)?.['name']) ?? '', byId, segmentIds, `flag ${key}`));
  const disabledId = str(raw['disabledVariationId']);
  const variationType = str(raw['variationType']) ?? 'string';
  const options = [...byId.values()].map((v) => `{"id":${v.idJson},"value":${v.valueJson}}`).join(',');
  return {
    key,
    timestamp,
    json: raw,
    isArchived: raw['isArchived'] === true,
    isEnabled: raw['isEnabled'] === true,
    disabledVariation: disabledId === null ? null : (byId.get(disabledId) ?? null),
    targets,
    rules,
    fallthrough: compileRule(raw['fallthrough'], 'default', byId, segmentIds, `flag ${key}`),
    exptIncludeAllTargets: raw['exptIncludeAllTargets'] === true,
    segmentIds,
    entryPrefix: `{"id":${JSON.stringify(key)},"variation":`,
    entryType: `,"variationType":${JSON.stringify(variationType)},"variationId":`,
    entrySuffix: `,"variationOptions":[${options}]`,
  };
}

const ARCHIVED: EvalResult = { variation: null, matchReason: 'flag archived', reasonJson: '"flag archived"', sendToExperiment: false };

function dispatchKeyOf(flag: CompiledFlag, rule: CompiledRule, user: PreparedUser): string {
  const property = rule.dispatchKey;
  if (property === null || property.trim() === '') return flag.key + user.keyId;
  return flag.key + (valueOf(user, property) ?? '');
}

function rollOut(flag: CompiledFlag, rule: CompiledRule, user: PreparedUser): EvalResult {
  const key = dispatchKeyOf(flag, rule, user);
  let chosen: CompiledRollout | undefined;
  for (const rollout of rule.variations) {
    if (inRollout(key, rollout.from, rollout.to)) {
      chosen = rollout;
      break;
    }
  }
  if (!chosen) {
    return { variation: EMPTY_VARIATION, matchReason: rule.name, reasonJson: rule.reasonJson, sendToExperiment: flag.exptIncludeAllTargets };
  }
  return {
    variation: chosen.variation,
    matchReason: rule.name,
    reasonJson: rule.reasonJson,
    sendToExperiment: sendToExperiment(flag, rule, key, chosen.to - chosen.from, chosen.exptRollout),
  };
}

/** §7 for a rule or the default rule. */
function sendToExperiment(flag: CompiledFlag, rule: CompiledRule, dispatchKey: string, dispatchRollout: number, exptRollout: number): boolean {
  if (flag.exptIncludeAllTargets) return true;
  if (!rule.includedInExpt) return false;
  if (exptRollout === 0 || dispatchRollout === 0) return false;
  const upper = Math.min(exptRollout / dispatchRollout, 1);
  return inRollout(`expt${dispatchKey}`, 0, upper);
}

/** Evaluates one flag for one user (evaluation.md §2). Never throws for malformed data. */
export function evaluateFlag(flag: CompiledFlag, user: PreparedUser, ctx: EvalContext): EvalResult {
  if (flag.isArchived) return ARCHIVED;
  if (!flag.isEnabled) {
    return { variation: flag.disabledVariation, matchReason: 'flag disabled', reasonJson: '"flag disabled"', sendToExperiment: false };
  }
  const targeted = flag.targets.get(user.keyId);
  if (targeted !== undefined || flag.targets.has(user.keyId)) {
    return { variation: targeted ?? null, matchReason: 'targeted', reasonJson: '"targeted"', sendToExperiment: flag.exptIncludeAllTargets };
  }
  for (const rule of flag.rules) {
    if (allTrue(rule.conditions, user, ctx)) return rollOut(flag, rule, user);
  }
  return rollOut(flag, flag.fallthrough, user);
}

/** The client payload entry of protocol §2.8, property order as the ELS writes it. */
export function clientEntryJson(flag: CompiledFlag, result: EvalResult): string {
  const variation = result.variation;
  return (
    flag.entryPrefix +
    (variation ? variation.valueJson : 'null') +
    flag.entryType +
    (variation ? variation.idJson : 'null') +
    ',"matchReason":' +
    result.reasonJson +
    flag.entrySuffix +
    ',"sendToExperiment":' +
    (result.sendToExperiment ? 'true' : 'false') +
    ',"timestamp":' +
    String(flag.timestamp) +
    '}'
  );
}
