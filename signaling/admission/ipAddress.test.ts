import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey, normalizeIp, sameNetwork } from './ipAddress.js';

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
