import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputToPhotonMeter } from './InputToPhotonMeter.js';

describe('InputToPhotonMeter', () => {
  test('the first frame with inputSeq ≥ N completes input N and everything before it', () => {
    const meter = new InputToPhotonMeter();
    meter.noteSent(1, 100);
    meter.noteSent(2, 110);
    meter.noteSent(3, 120);
    assert.deepEqual(meter.notePresented(0, 125), []);
    const done = meter.notePresented(2, 140);
    assert.deepEqual(
      done.map((s) => [s.seq, s.latencyMs]),
      [
        [1, 40],
        [2, 30],
      ],
    );
    // A later frame with the same seq does not count again.
    assert.deepEqual(meter.notePresented(2, 160), []);
    assert.deepEqual(
      meter.notePresented(9, 150).map((s) => s.latencyMs),
      [30],
    );
    assert.equal(meter.pendingCount, 0);
    assert.equal(meter.samples.length, 3);
    assert.equal(meter.recentMedianMs(), 30);
  });

  test('seqs that do not increase are ignored; reset drops pending sends', () => {
    const meter = new InputToPhotonMeter();
    meter.noteSent(5, 0);
    meter.noteSent(5, 10);
    meter.noteSent(4, 10);
    assert.equal(meter.pendingCount, 1);
    meter.reset();
    assert.deepEqual(meter.notePresented(10, 20), []);
    assert.equal(meter.recentMedianMs(), undefined);
  });

  test('pending sends are bounded', () => {
    const meter = new InputToPhotonMeter();
    for (let seq = 1; seq <= 2000; seq++) meter.noteSent(seq, seq);
    assert.equal(meter.pendingCount, 512);
    assert.equal(meter.notePresented(2000, 3000).length, 512);
  });
});
