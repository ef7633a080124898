/**
 * Bounded regular expressions for `MatchRegex` / `NotMatchRegex` (evaluation.md §4 note B).
 *
 * FeatBit users write .NET patterns; the ELS runs them on a backtracking engine with no timeout, so
 * one pattern such as `^(a+)+$` and one crafted user value can pin a CPU for minutes. The agent runs
 * them on RE2 (re2js, pure TypeScript), whose matching time is linear in the input, after
 * translating the .NET syntax RE2 spells differently. What RE2 cannot run (backreferences,
 * lookaround, atomic and balancing groups, conditionals, `\G`, class subtraction, `(?x)`) is
 * reported as unsupported: the condition is then false. Plain TypeScript, no Nest.
 */
import { RE2JS } from 're2js';

/** Patterns longer than this are refused (condition false): compiling cost grows with the pattern. */
export const MAX_REGEX_LENGTH = 1000;
/**
 * User values longer than this (UTF-16 code units) are not matched: the condition is false, for
 * `MatchRegex` and `NotMatchRegex` alike. Real attribute values (emails, ids, versions) are far
 * shorter; the cap keeps one evaluation's regex cost bounded by a small constant.
 */
export const MAX_REGEX_INPUT = 4096;
/** Sum of the bounds of all counted repeats (`{n,m}`) of one pattern: RE2 unrolls them. */
export const MAX_REGEX_REPEAT_TOTAL = 2000;

/** Why a pattern (or an input) was not run. A fixed set: it is a metric label. */
export type RegexSkipReason =
  | 'backreference'
  | 'lookaround'
  | 'atomic_group'
  | 'balancing_group'
  | 'conditional'
  | 'anchor_g'
  | 'class_subtraction'
  | 'ignore_whitespace'
  | 'unicode_block'
  | 'too_complex'
  | 'too_long'
  | 'invalid'
  | 'input_too_long';

export const REGEX_SKIP_REASONS: readonly RegexSkipReason[] = [
  'backreference',
  'lookaround',
  'atomic_group',
  'balancing_group',
  'conditional',
  'anchor_g',
  'class_subtraction',
  'ignore_whitespace',
  'unicode_block',
  'too_complex',
  'too_long',
  'invalid',
  'input_too_long',
];

export interface RegexProblem {
  /** `flag <key>` or `segment <id>`: where the condition sits. */
  owner: string;
  pattern: string;
  reason: RegexSkipReason;
  detail: string;
}

/**
 * Counters and a listener hook for the metrics service and the log. `skipped` counts evaluations
 * whose regex condition was false because the pattern could not run or the input was too long.
 */
export const regexStats = {
  skipped: new Map<RegexSkipReason, number>(),
  listeners: [] as ((problem: RegexProblem) => void)[],
};

/**
 * `listener` is called once per owner and pattern (not per evaluation nor per data change).
 * Returns a function that removes it.
 */
export function onRegexProblem(listener: (problem: RegexProblem) => void): () => void {
  regexStats.listeners.push(listener);
  return () => {
    const at = regexStats.listeners.indexOf(listener);
    if (at >= 0) regexStats.listeners.splice(at, 1);
  };
}

function countSkip(reason: RegexSkipReason): void {
  regexStats.skipped.set(reason, (regexStats.skipped.get(reason) ?? 0) + 1);
}

const REPORTED_MAX = 10_000;
const reported = new Set<string>();

function report(problem: RegexProblem): void {
  const key = `${problem.owner}\u0000${problem.pattern}`;
  if (reported.has(key)) return;
  // A bound on the memory of what was said: past it, problems may be logged again.
  if (reported.size >= REPORTED_MAX) reported.clear();
  reported.add(key);
  for (const listener of regexStats.listeners) {
    try {
      listener(problem);
    } catch {
      // A listener's failure never reaches evaluation.
    }
  }
}

class Unsupported extends Error {
  constructor(
    readonly reason: RegexSkipReason,
    detail: string,
  ) {
    super(detail);
  }
}

// .NET's Unicode-aware shorthand classes, in RE2 syntax (without the brackets).
const WORD = '\\p{L}\\p{Mn}\\p{Nd}\\p{Pc}';
const SPACE = '\\f\\n\\r\\t\\v\\x{85}\\p{Z}';
const DIGIT = '\\p{Nd}';

function isHex(text: string): boolean {
  return /^[0-9A-Fa-f]+$/.test(text);
}

/**
 * Translates one escape (the text after `\` at `i`), outside or inside a character class.
 * Returns the RE2 text and the index after the escape.
 */
function translateEscape(pattern: string, i: number, inClass: boolean): [string, number] {
  const c = pattern[i];
  if (c === undefined) throw new Unsupported('invalid', 'pattern ends with \\');
  switch (c) {
    case 'd':
      return [DIGIT, i + 1];
    case 'D':
      return ['\\P{Nd}', i + 1];
    case 'w':
      return [inClass ? WORD : `[${WORD}]`, i + 1];
    case 's':
      return [inClass ? SPACE : `[${SPACE}]`, i + 1];
    // Negated classes inside a bracket cannot be spelt as a union in RE2: there they keep RE2's
    // ASCII meaning (see README). Outside, they are exact.
    case 'W':
      return [inClass ? '\\W' : `[^${WORD}]`, i + 1];
    case 'S':
      return [inClass ? '\\S' : `[^${SPACE}]`, i + 1];
    case 'b':
      // In a class .NET's \b is a backspace.
      return [inClass ? '\\x{8}' : '\\b', i + 1];
    case 'B':
    case 'A':
    case 'z':
      if (inClass) throw new Unsupported('invalid', `\\${c} in a character class`);
      return [`\\${c}`, i + 1];
    case 'Z':
      if (inClass) throw new Unsupported('invalid', '\\Z in a character class');
      // End of input, or before a final newline.
      return ['(?:\\n?\\z)', i + 1];
    case 'G':
      throw new Unsupported('anchor_g', '\\G');
    case 'k':
      throw new Unsupported('backreference', '\\k<name>');
    case 'u': {
      const hex = pattern.slice(i + 1, i + 5);
      if (hex.length !== 4 || !isHex(hex)) throw new Unsupported('invalid', 'bad \\u escape');
      return [`\\x{${hex}}`, i + 5];
    }
    case 'e':
      return ['\\x{1B}', i + 1];
    case 'c': {
      const letter = pattern[i + 1];
      if (letter === undefined || !/[A-Za-z@[\\\]^_]/.test(letter)) throw new Unsupported('invalid', 'bad \\c escape');
      return [`\\x{${(letter.toUpperCase().charCodeAt(0) & 0x1f).toString(16)}}`, i + 2];
    }
    case 'p':
    case 'P': {
      const end = pattern[i + 1] === '{' ? pattern.indexOf('}', i + 2) : -1;
      if (end < 0) throw new Unsupported('invalid', `bad \\${c} escape`);
      const name = pattern.slice(i + 2, end);
      if (name.startsWith('Is')) throw new Unsupported('unicode_block', `\\${c}{${name}}`);
      return [pattern.slice(i - 1, end + 1), end + 1];
    }
    default:
      if (c >= '1' && c <= '9' && !inClass) throw new Unsupported('backreference', `\\${c}`);
      return [`\\${c}`, i + 1];
  }
}

/** Translates a character class starting at `[` (index `start`); returns RE2 text and next index. */
function translateClass(pattern: string, start: number): [string, number] {
  let i = start + 1;
  let negated = false;
  if (pattern[i] === '^') {
    negated = true;
    i++;
  }
  const items: string[] = [];
  let first = true;
  for (;;) {
    const c = pattern[i];
    if (c === undefined) throw new Unsupported('invalid', 'unterminated character class');
    if (c === ']' && !first) {
      i++;
      break;
    }
    first = false;
    if (c === '\\') {
      const [text, next] = translateEscape(pattern, i + 1, true);
      items.push(text);
      i = next;
    } else if (c === '[') {
      // .NET: a literal `[`; RE2 would read `[:alpha:]` as a POSIX class.
      items.push('\\[');
      i++;
    } else if (c === '-' && pattern[i + 1] === '[' && items.length > 0) {
      throw new Unsupported('class_subtraction', 'character class subtraction [a-z-[aeiou]]');
    } else if (c === ']') {
      items.push('\\]');
      i++;
    } else {
      items.push(c);
      i++;
    }
  }
  // A class holding only \W or \S: exact, spelt as the complement.
  if (items.length === 1 && (items[0] === '\\W' || items[0] === '\\S')) {
    const set = items[0] === '\\W' ? WORD : SPACE;
    return [negated ? `[${set}]` : `[^${set}]`, i];
  }
  return [`[${negated ? '^' : ''}${items.join('')}]`, i];
}

/** Translates a group opening `(` at `start`; returns RE2 text and next index. */
function translateGroup(pattern: string, start: number): [string, number] {
  if (pattern[start + 1] !== '?') return ['(', start + 1];
  const rest = pattern.slice(start + 2);
  if (rest.startsWith(':')) return ['(?:', start + 3];
  if (rest.startsWith('=') || rest.startsWith('!') || rest.startsWith('<=') || rest.startsWith('<!')) {
    throw new Unsupported('lookaround', `(?${rest.slice(0, rest[0] === '<' ? 2 : 1)}`);
  }
  if (rest.startsWith('>')) throw new Unsupported('atomic_group', '(?>');
  if (rest.startsWith('(')) throw new Unsupported('conditional', '(?(');
  if (rest.startsWith('#')) {
    const end = pattern.indexOf(')', start);
    if (end < 0) throw new Unsupported('invalid', 'unterminated comment');
    return ['', end + 1];
  }
  const named = /^(?:<([^>]*)>|'([^']*)')/.exec(rest);
  if (named) {
    const name = named[1] ?? named[2] ?? '';
    if (name.includes('-')) throw new Unsupported('balancing_group', `(?<${name}>`);
    if (/^\d+$/.test(name)) return ['(', start + 2 + named[0].length];
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Unsupported('invalid', `bad group name ${name}`);
    return [`(?P<${name}>`, start + 2 + named[0].length];
  }
  const flags = /^([imnsx]*)(?:-([imnsx]*))?([:)])/.exec(rest);
  if (flags) {
    const on = flags[1] ?? '';
    const off = flags[2] ?? '';
    if (on.includes('x')) throw new Unsupported('ignore_whitespace', '(?x)');
    // (?n) (explicit capture) changes nothing for a yes/no match; (?-x) is the default.
    const keepOn = on.replace(/n/g, '');
    const keepOff = off.replace(/[nx]/g, '');
    const spelt = keepOn + (keepOff ? `-${keepOff}` : '');
    const next = start + 2 + flags[0].length;
    if (flags[3] === ')') return [spelt ? `(?${spelt})` : '', next];
    return [spelt ? `(?${spelt}:` : '(?:', next];
  }
  throw new Unsupported('invalid', `unknown group (?${rest.slice(0, 1)}`);
}

/**
 * The RE2 spelling of a .NET pattern. Throws `Unsupported` for constructs RE2 cannot run.
 * Exported for tests.
 */
export function translateDotNetPattern(pattern: string): string {
  let out = '';
  let repeatTotal = 0;
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const [text, next] = translateEscape(pattern, i + 1, false);
      out += text;
      i = next;
    } else if (c === '[') {
      const [text, next] = translateClass(pattern, i);
      out += text;
      i = next;
    } else if (c === '(') {
      const [text, next] = translateGroup(pattern, i);
      out += text;
      i = next;
    } else if (c === '$') {
      // .NET's `$` (without (?m)) also matches before a final newline; with (?m) before any.
      out += '(?:$|\\n\\z)';
      i++;
    } else if (c === '{') {
      const counted = /^\{(\d+)(?:,(\d*))?\}/.exec(pattern.slice(i));
      if (counted) {
        repeatTotal += Math.max(Number(counted[1]), Number(counted[2] || 0));
        if (repeatTotal > MAX_REGEX_REPEAT_TOTAL) throw new Unsupported('too_complex', `counted repeats total more than ${MAX_REGEX_REPEAT_TOTAL}`);
        out += counted[0];
        i += counted[0].length;
      } else {
        // .NET reads a `{` that starts no quantifier as a literal.
        out += '\\{';
        i++;
      }
    } else if (c === '}') {
      out += '\\}';
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** A compiled pattern: a test of a user value, or the reason it cannot run. */
export type CompiledRegex = { ok: true; test: (input: string) => boolean } | { ok: false; reason: RegexSkipReason; detail: string };

const CACHE_MAX = 2000;
const cache = new Map<string, CompiledRegex>();

function compileUncached(pattern: string): CompiledRegex {
  if (pattern.length > MAX_REGEX_LENGTH) return { ok: false, reason: 'too_long', detail: `longer than ${MAX_REGEX_LENGTH} characters` };
  let source: string;
  try {
    source = translateDotNetPattern(pattern);
  } catch (error) {
    if (error instanceof Unsupported) return { ok: false, reason: error.reason, detail: error.message };
    throw error;
  }
  try {
    const re = RE2JS.compile(source);
    return { ok: true, test: (input) => re.test(input) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const reason: RegexSkipReason = /repeat count|too large|nests too deeply/.test(message) ? 'too_complex' : 'invalid';
    return { ok: false, reason, detail: message };
  }
}

/**
 * Compiles a .NET pattern for RE2, cached by pattern text: a data change recompiles the flags of an
 * environment, most patterns are unchanged.
 */
export function compileDotNetRegex(pattern: string): CompiledRegex {
  let compiled = cache.get(pattern);
  if (compiled) return compiled;
  compiled = compileUncached(pattern);
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(pattern, compiled);
  return compiled;
}

/**
 * The test of a `MatchRegex` (negate false) or `NotMatchRegex` (negate true) condition.
 *
 * A pattern that cannot run, or an input longer than MAX_REGEX_INPUT, makes the condition false
 * for both operators: the condition cannot be decided, so the rule does not apply and the user
 * goes on to the next rule (fail closed). An invalid pattern did the same before (evaluation.md
 * §4 note B), and the ELS fails the whole payload then (§9).
 */
export function regexCondition(pattern: string, negate: boolean, owner: string): (input: string) => boolean {
  const compiled = compileDotNetRegex(pattern);
  if (!compiled.ok) {
    const { reason, detail } = compiled;
    report({ owner, pattern, reason, detail });
    return () => {
      countSkip(reason);
      return false;
    };
  }
  const test = compiled.test;
  return (input) => {
    if (input.length > MAX_REGEX_INPUT) {
      countSkip('input_too_long');
      return false;
    }
    return test(input) !== negate;
  };
}
