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
