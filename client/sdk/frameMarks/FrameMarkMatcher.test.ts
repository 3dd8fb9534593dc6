import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FrameMarkMatcher, rtpAtOrAfter } from './FrameMarkMatcher.js';

describe('FrameMarkMatcher', () => {
  test('a mark that overtakes its frame resolves when the frame is presented', () => {
    const m = new FrameMarkMatcher();
    assert.deepEqual(m.onPresented(1000, 10), []);
    assert.equal(m.onMark({ inputSeq: 5, rtpTimestamp: 4000, frame: 3 }), undefined);
    assert.deepEqual(m.onPresented(2500, 20), []);
    assert.deepEqual(m.onPresented(4000, 30), [{ inputSeq: 5, rtpTimestamp: 4000, frame: 3, presentedAtMs: 30 }]);
    assert.equal(m.pendingCount, 0);
  });

  test('a mark that arrives after its frame resolves at once, on that frame', () => {
    const m = new FrameMarkMatcher();
    m.onPresented(1000, 10);
    m.onPresented(2500, 20);
    m.onPresented(4000, 30);
    assert.deepEqual(m.onMark({ inputSeq: 1, rtpTimestamp: 2500, frame: 2 })?.presentedAtMs, 20);
  });

  test('a marked frame the browser never showed resolves on the next frame shown', () => {
    const m = new FrameMarkMatcher();
    m.onPresented(1000, 10);
    m.onMark({ inputSeq: 7, rtpTimestamp: 2500, frame: 2 });
    m.onMark({ inputSeq: 8, rtpTimestamp: 4000, frame: 3 });
    // 2500 and 4000 were skipped; 5500 reflects both inputs.
    const done = m.onPresented(5500, 40);
    assert.deepEqual(
      done.map((d) => [d.inputSeq, d.presentedAtMs]),
      [
        [7, 40],
        [8, 40],
      ],
    );
  });

  test('RTP timestamps wrap at 2^32', () => {
    assert.ok(rtpAtOrAfter(100, 0xffff_ff00));
    assert.ok(!rtpAtOrAfter(0xffff_ff00, 100));
    const m = new FrameMarkMatcher();
    m.onMark({ inputSeq: 1, rtpTimestamp: 0xffff_fa00, frame: 1 });
    assert.equal(m.onPresented(0xffff_f400, 1).length, 0);
    assert.equal(m.onPresented(0x0000_0100, 2).length, 1);
  });

  test('a mark older than every remembered frame is dropped, not pinned to a later frame', () => {
    const m = new FrameMarkMatcher();
    for (let i = 0; i < 300; i++) m.onPresented(i * 1500, i);
    assert.equal(m.onMark({ inputSeq: 1, rtpTimestamp: 1500, frame: 1 }), undefined);
    assert.equal(m.pendingCount, 0);
  });

  test('pending marks are bounded', () => {
    const m = new FrameMarkMatcher();
    for (let i = 0; i < 1000; i++) m.onMark({ inputSeq: i, rtpTimestamp: 1000 + i, frame: i });
    assert.ok(m.pendingCount <= 256);
  });
});
