import { createHmac } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** An address as one form: IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes IPv4, IPv6 is lower-cased. */
export function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  return address.toLowerCase();
}

export type NetworkPrefixBits = { ipv4PrefixBits: number; ipv6PrefixBits: number };

/** Whether two addresses are in the same network of the given prefix lengths (a prefix of 0 never matches). */
export function sameNetwork(a: string, b: string, bits: NetworkPrefixBits): boolean {
  const x = normalizeIp(a);
  const y = normalizeIp(b);
  const family = isIPv4(x) && isIPv4(y) ? 'ipv4' : isIPv6(x) && isIPv6(y) ? 'ipv6' : undefined;
  if (!family) return false;
  const prefix = family === 'ipv4' ? bits.ipv4PrefixBits : bits.ipv6PrefixBits;
  if (prefix <= 0) return false;
  const list = new BlockList();
  list.addSubnet(x, prefix, family);
  return list.check(y, family);
}

/**
 * The key every per-address limit counts under: an IPv4 address as it is, an IPv6 address by its /64 (one
 * customer's network — a host picks any of its 2^64 addresses freely, so one key per address would mean no limit).
 */
/**
 * A player's address as the per-address limits that outlive its connection keep it: a keyed hash (the network's
 * token secret, shared by its instances) of its `addressKey`, 32 hex digits. Session records carry this, never the
 * address, so a shared store (Redis) holds no player's address.
 */
export function addressHash(secret: Uint8Array, address: string): string {
  return createHmac('sha256', secret)
    .update(`player-address:${addressKey(address)}`)
    .digest('hex')
    .slice(0, 32);
}

export function addressKey(address: string): string {
  const ip = normalizeIp(address);
  if (!isIPv6(ip)) return ip;
  // Expand `::` to the zero groups it stands for (a trailing dotted IPv4 part is two groups).
  const groupsOf = (part: string): string[] =>
    part ? part.split(':').flatMap((group) => (group.includes('.') ? ['0', '0'] : [group])) : [];
  const [head = '', tail] = ip.split('::');
  const headGroups = groupsOf(head);
  const tailGroups = tail === undefined ? [] : groupsOf(tail);
  const zeros =
    tail === undefined ? [] : Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0');
  const groups = [...headGroups, ...zeros, ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group || '0', 16).toString(16))
    .join(':')}::/64`;
}

/** Whether an address is one of the configured proxies (addresses or CIDRs, IPv4 and IPv6). */
export type ProxyMatcher = (address: string) => boolean;

/** The matcher for `trustedProxies` entries (`10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`); invalid ones throw. */
export function trustedProxyMatcher(entries: readonly string[]): ProxyMatcher {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', bits] = entry.split('/');
    const ip = normalizeIp(address.trim());
    const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined;
    if (!family) throw new TypeError(`trustedProxies: \`${entry}\` is not an address or CIDR`);
    if (bits === undefined) list.addAddress(ip, family);
    else list.addSubnet(ip, Number(bits), family);
  }
  return (address) => {
    const ip = normalizeIp(address);
    const family = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined;
    return family !== undefined && list.check(ip, family);
  };
}

export type ClientAddressParameters = {
  /** The socket's peer address. */
  peer: string;
  /** The X-Forwarded-For header(s), when sent. */
  forwardedFor: string | readonly string[] | undefined;
  isTrustedProxy: ProxyMatcher;
};

/**
 * Where a request really comes from (normalized). A peer that is not a trusted proxy is the client, whatever
 * X-Forwarded-For says (anyone can send one). Behind trusted proxies, the header is read from its right end — each
 * proxy appends the address it got the request from — past every trusted hop to the first untrusted address; the
 * entries left of it are the client's own words and are ignored. A malformed entry stops the walk at the hop
 * that added it.
 */
export function clientAddress({ peer, forwardedFor, isTrustedProxy }: ClientAddressParameters): string {
  let client = normalizeIp(peer);
  if (!isTrustedProxy(client) || forwardedFor === undefined) return client;
  const hops = (typeof forwardedFor === 'string' ? [forwardedFor] : forwardedFor)
    .join(',')
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
  for (let i = hops.length - 1; i >= 0; i -= 1) {
    const hop = normalizeIp(hops[i] ?? '');
    if (!isIPv4(hop) && !isIPv6(hop)) return client;
    client = hop;
    if (!isTrustedProxy(hop)) return client;
  }
  return client;
}
