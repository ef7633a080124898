/**
 * Mirrors .NET `double.TryParse` with the invariant culture (evaluation.md §4 note D): surrounding
 * white space, a sign, digits with `,` group separators in the integer part, an optional fraction
 * and exponent, or Infinity/-Infinity/NaN in any case. Returns NaN when the text is not a number.
 */
const NUMBER = /^[\t\n\v\f\r ]*([+-]?)(\d[\d,]*)?(?:\.(\d*))?(?:[eE]([+-]?\d+))?[\t\n\v\f\r ]*$/;
const WORDS = /^[\t\n\v\f\r ]*([+-]?)(infinity|nan)[\t\n\v\f\r ]*$/i;

export function parseDotNetDouble(text: string): number {
  const match = NUMBER.exec(text);
  if (match) {
    const [, sign = '', integer = '', fraction, exponent] = match;
    if (integer === '' && (fraction === undefined || fraction === '')) return Number.NaN;
    return Number(`${sign}${integer.replace(/,/g, '') || '0'}.${fraction ?? ''}0e${exponent ?? '0'}`);
  }
  const word = WORDS.exec(text);
  if (!word) return Number.NaN;
  if (word[2]?.toLowerCase() === 'nan') return Number.NaN;
  return word[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
}

const parsed = new Map<string, number>();
const PARSED_LIMIT = 10_000;

/** `parseDotNetDouble` memoised: user values such as "30" meet many numeric conditions per payload. */
export function parseDotNetDoubleCached(text: string): number {
  let value = parsed.get(text);
  if (value === undefined) {
    value = parseDotNetDouble(text);
    if (parsed.size >= PARSED_LIMIT) parsed.clear();
    parsed.set(text, value);
  }
  return value;
}
