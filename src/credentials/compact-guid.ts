/**
 * FeatBit's 22-character GUID encoding (protocol §1.1): the 16 bytes in .NET `Guid.ToByteArray()`
 * order (first three groups little-endian), base64 with `/`→`_` and `+`→`-`, padding dropped.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COMPACT = /^[A-Za-z0-9_-]{22}$/;

function dotNetBytes(hex: string): Buffer {
  const b = Buffer.from(hex, 'hex');
  return Buffer.from([b[3]!, b[2]!, b[1]!, b[0]!, b[5]!, b[4]!, b[7]!, b[6]!, ...b.subarray(8)]);
}

export function encodeCompactGuid(guid: string): string | null {
  if (!GUID.test(guid)) return null;
  const bytes = dotNetBytes(guid.replace(/-/g, ''));
  return bytes.toString('base64').replace(/\//g, '_').replace(/\+/g, '-').slice(0, 22);
}

export function decodeCompactGuid(compact: string): string | null {
  if (!COMPACT.test(compact)) return null;
  const bytes = Buffer.from(`${compact.replace(/_/g, '/').replace(/-/g, '+')}==`, 'base64');
  if (bytes.length !== 16) return null;
  // The byte swap is its own inverse.
  const hex = dotNetBytes(bytes.toString('hex')).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
