import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey, clientAddress, normalizeIp, sameNetwork, trustedProxyMatcher } from './ipAddress.js';

test('addresses compare by network prefix, IPv4-mapped IPv6 as IPv4', () => {
  const bits = { ipv4PrefixBits: 24, ipv6PrefixBits: 48 };
  assert.equal(normalizeIp('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(sameNetwork('10.1.2.3', '::ffff:10.1.2.200', bits), true);
  assert.equal(sameNetwork('10.1.2.3', '10.1.3.3', bits), false);
  assert.equal(sameNetwork('2001:db8:1::1', '2001:db8:1:ff::9', bits), true);
  assert.equal(sameNetwork('2001:db8:1::1', '2001:db8:2::1', bits), false);
  assert.equal(sameNetwork('10.1.2.3', '2001:db8::1', bits), false);
  assert.equal(sameNetwork('10.1.2.3', '10.1.2.3', { ipv4PrefixBits: 0, ipv6PrefixBits: 0 }), false, '0 turns it off');
});

test('per-address limits key IPv4 by address and IPv6 by its /64', () => {
  assert.equal(addressKey('10.1.2.3'), '10.1.2.3');
  assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
  assert.equal(addressKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:DB8:1:2:ffff:eeee:dddd:cccc'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:0db8:0001:0002:0:0:0:9'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('fe80::1:2:3:4'), 'fe80:0:0:0::/64');
  assert.equal(addressKey('2001:db8:1:2::1.2.3.4'), '2001:db8:1:2::/64');
  assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
});

test('the client address: X-Forwarded-For counts only from a trusted proxy, read from the right past trusted hops', () => {
  const isTrustedProxy = trustedProxyMatcher(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
  const from = (peer: string, forwardedFor?: string | string[]) =>
    clientAddress({ peer, forwardedFor, isTrustedProxy });
  assert.equal(from('203.0.113.5', '198.51.100.1'), '203.0.113.5', 'an untrusted peer is the client');
  assert.equal(from('::ffff:203.0.113.5'), '203.0.113.5');
  assert.equal(from('127.0.0.1'), '127.0.0.1', 'a proxy that sends no header is the client');
  assert.equal(from('127.0.0.1', '198.51.100.1'), '198.51.100.1');
  assert.equal(from('::ffff:127.0.0.1', '198.51.100.1'), '198.51.100.1');
  // The client wrote a fake first entry; the proxy appended the real address.
  assert.equal(from('127.0.0.1', '1.2.3.4, 198.51.100.1'), '198.51.100.1');
  assert.equal(from('127.0.0.1', ['1.2.3.4', '198.51.100.1, 10.1.1.1']), '198.51.100.1', 'past trusted hops');
  assert.equal(from('127.0.0.1', '10.1.1.1, 10.2.2.2'), '10.1.1.1', 'all trusted: the leftmost');
  assert.equal(from('127.0.0.1', '198.51.100.1, not-an-ip'), '127.0.0.1', 'garbage stops the walk at its hop');
  assert.equal(from('fd00::1', '2001:db8:1:2::7'), '2001:db8:1:2::7');
  assert.equal(
    clientAddress({ peer: '127.0.0.1', forwardedFor: '1.2.3.4', isTrustedProxy: trustedProxyMatcher([]) }),
    '127.0.0.1',
    'no proxies configured',
  );
  assert.throws(() => trustedProxyMatcher(['nginx']), /not an address or CIDR/);
});
