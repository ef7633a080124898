import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** Which peers' `X-Forwarded-For` to believe (TRUST_PROXY, as fastify's `trustProxy`). */
export type TrustProxy = boolean | string[];

/**
 * The client address of a request that fastify does not see (a WebSocket upgrade), as fastify's
 * `request.ip` would give it for the same TRUST_PROXY: the peer, or with trusted proxies the first
 * address of `X-Forwarded-For`, from the right, that is not a trusted proxy (all of them trusted:
 * the leftmost).
 */
export function clientAddressResolver(trust: TrustProxy): (request: IncomingMessage) => string {
  const peer = (request: IncomingMessage): string => request.socket.remoteAddress ?? '';
  if (trust === false || (Array.isArray(trust) && trust.length === 0)) return peer;
  const trusted = trust === true ? undefined : blockList(trust);
  const isTrusted = (address: string): boolean => {
    if (trusted === undefined) return true;
    const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const family = isIP(plain);
    return family !== 0 && trusted.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  };
  return (request) => {
    let address = peer(request);
    if (!isTrusted(address)) return address;
    const header = request.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((h) => h.trim()).filter((h) => h !== '');
    for (let i = hops.length - 1; i >= 0; i--) {
      address = hops[i] ?? address;
      if (!isTrusted(address)) return address;
    }
    return address;
  };
}

function blockList(entries: string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}
