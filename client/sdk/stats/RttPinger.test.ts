import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeInput, PingInput, PongInput } from '../../../signaling/protocol/index.js';
import { RttPinger } from './RttPinger.js';

describe('RttPinger', () => {
  test('a pong echoing a ping gives the RTT; the median of recent RTTs is the estimate', () => {
    const pinger = new RttPinger();
    const ping = decodeInput(pinger.ping(1000));
    assert.ok(ping instanceof PingInput);
    assert.equal(pinger.pong(new PongInput(ping.id, ping.sentAtMs), 1004), 4);
    for (const [at, rtt] of [
      [2000, 10],
      [3000, 2],
    ]) {
      const p = decodeInput(pinger.ping(at ?? 0));
      assert.ok(p instanceof PingInput);
      pinger.pong(new PongInput(p.id, p.sentAtMs), (at ?? 0) + (rtt ?? 0));
    }
    assert.equal(pinger.rttMs, 4);
  });

  test('unknown, repeated or forged pongs are ignored', () => {
    const pinger = new RttPinger();
    const ping = decodeInput(pinger.ping(0));
    assert.ok(ping instanceof PingInput);
    assert.equal(pinger.pong(new PongInput(999, 0), 5), undefined);
    assert.equal(pinger.pong(new PongInput(ping.id, 123), 5), undefined);
    assert.equal(pinger.pong(new PongInput(ping.id, 0), 5), 5);
    assert.equal(pinger.pong(new PongInput(ping.id, 0), 6), undefined);
  });
});
