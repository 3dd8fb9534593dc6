import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PublicHost } from '../../../signaling/protocol/index.js';
import { shortAddress, summarizeNetwork } from './networkSummary.js';

const host = (overrides: Partial<PublicHost>): PublicHost => ({
  hostId: 'h',
  state: 'up',
  region: { country: 'DE', lat: 50, lon: 8 },
  gpu: 'software',
  encoder: 'x264',
  games: ['neon-drift'],
  slots: 2,
  freeSlots: 1,
  load: 0.5,
  priceWeiPerSec: '1000',
  qualityScore: 1,
  providerAddress: '0x00000000000000000000000000000000000000aa',
  stakeWei: '500',
  ...overrides,
});

test('the network in numbers: up hosts and their slots and prices; stake once per provider', () => {
  const summary = summarizeNetwork([
    host({ hostId: 'a', freeSlots: 2, priceWeiPerSec: '100' }),
    host({ hostId: 'b', freeSlots: 0, priceWeiPerSec: '300' }),
    host({
      hostId: 'c',
      state: 'down',
      slots: 8,
      freeSlots: 8,
      priceWeiPerSec: '1',
      providerAddress: '0xBB',
      stakeWei: '7',
    }),
  ]);
  assert.deepEqual(summary, {
    hostsUp: 2,
    hostsTotal: 3,
    slotsFree: 2,
    slotsTotal: 4,
    providers: 2,
    stakeWei: 507n,
    priceMinWeiPerHour: 360_000n,
    priceMaxWeiPerHour: 1_080_000n,
  });
  assert.equal(summarizeNetwork([]).priceMinWeiPerHour, undefined);
  assert.equal(shortAddress('0x1234567890abcdef1234567890abcdef12345678'), '0x1234…5678');
});
