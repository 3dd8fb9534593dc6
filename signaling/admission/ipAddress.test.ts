import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeIp, sameNetwork } from './ipAddress.js';

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
