/**
 * FeatBit's 22-character GUID encoding (protocol §1.1): the 16 bytes in .NET `Guid.ToByteArray()`
 * order (first three groups little-endian), base64 with `/`→`_` and `+`→`-`, padding dropped.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COMPACT = /^[A-Za-z0-9_-]{22}$/;

/** Swaps between RFC 4122 and .NET byte order; the swap is its own inverse. */
function swapDotNetOrder(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  out.writeUInt32BE(bytes.readUInt32LE(0), 0);
  out.writeUInt16BE(bytes.readUInt16LE(4), 4);
  out.writeUInt16BE(bytes.readUInt16LE(6), 6);
  return out;
}

/** Encodes a GUID in 8-4-4-4-12 form (any case). Throws on anything else: callers pass known GUIDs. */
export function encodeCompactGuid(guid: string): string {
  if (!GUID.test(guid)) throw new RangeError(`not a GUID: ${JSON.stringify(guid)}`);
  const bytes = swapDotNetOrder(Buffer.from(guid.replace(/-/g, ''), 'hex'));
  return bytes.toString('base64').replace(/\//g, '_').replace(/\+/g, '-').slice(0, 22);
}

/**
 * Decodes 22 URL-safe base64 characters to a lower-case GUID, or null when the input is not
 * exactly 22 characters of that alphabet. Like .NET, the 4 unused low bits of the last
 * character are ignored.
 */
export function decodeCompactGuid(compact: string): string | null {
  if (!COMPACT.test(compact)) return null;
  const raw = Buffer.from(`${compact.replace(/_/g, '/').replace(/-/g, '+')}==`, 'base64');
  if (raw.length !== 16) return null;
  const hex = swapDotNetOrder(raw).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
