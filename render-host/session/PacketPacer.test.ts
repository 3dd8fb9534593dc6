import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { PacketPacer } from './PacketPacer.js';

function clock() {
  let nowMs = 0;
  mock.timers.enable({ apis: ['setTimeout'] });
  return {
    now: () => nowMs,
    advance(ms: number) {
      for (let i = 0; i < ms; i++) {
        nowMs += 1;
        mock.timers.tick(1);
      }
    },
    [Symbol.dispose]: () => mock.timers.reset(),
  };
}

const frame = (n: number, first = 0) => Array.from({ length: n }, (_, i) => ({ item: first + i, bytes: 1200 }));

describe('PacketPacer', () => {
  test('an ordinary frame (up to ≈1.25× the average size) leaves in one burst; the next one too', () => {
    using c = clock();
    const sent: Array<[number, number]> = [];
    // 4 Mbit/s at 60 fps: 8.3 kB a frame on average, 7 packets of 1200 B.
    const pacer = new PacketPacer<number>({
      send: (item) => sent.push([item, c.now()]),
      spreadMs: 1000 / 60 / 4,
      targetBitrateBps: 4_000_000,
      now: c.now,
    });
    pacer.enqueue(frame(8));
    assert.equal(sent.length, 8, 'all at once');
    c.advance(17);
    pacer.enqueue(frame(8, 100));
    assert.equal(sent.length, 16, 'the bucket refilled over the frame interval');
    assert.equal(pacer.takeMaxQueueMs(), 0);
  });

  test("spreads a keyframe's packets over the spread window, in order, none later than it", () => {
    using c = clock();
    const sent: Array<[number, number]> = [];
    const pacer = new PacketPacer<number>({
      send: (item) => sent.push([item, c.now()]),
      spreadMs: 4,
      targetBitrateBps: 4_000_000,
      now: c.now,
    });
    // 48 kB: six times the average frame at 4 Mbit/s and 60 fps.
    pacer.enqueue(frame(40));
    const atOnce = sent.length;
    assert.ok(atOnce >= 1 && atOnce < 20, `${atOnce} of 40 packets left at once`);
    c.advance(4);
    assert.equal(sent.length, 40, 'all sent within the spread window');
    assert.deepEqual(
      sent.map(([item]) => item),
      [...Array(40).keys()],
      'order kept',
    );
    assert.ok(new Set(sent.map(([, at]) => at)).size >= 3, 'in several bursts');
    assert.ok(pacer.takeMaxQueueMs() <= 4);
  });

  test('a small frame at a low rate still leaves by its deadline', () => {
    using c = clock();
    const sent: number[] = [];
    const pacer = new PacketPacer<number>({
      send: (item) => sent.push(item),
      spreadMs: 8,
      targetBitrateBps: 100_000,
      now: c.now,
    });
    pacer.enqueue(frame(3));
    c.advance(8);
    assert.equal(sent.length, 3);
  });

  test('the next frame queues behind the previous one; close drops what is queued', () => {
    using c = clock();
    const sent: number[] = [];
    const pacer = new PacketPacer<number>({
      send: (item) => sent.push(item),
      spreadMs: 4,
      targetBitrateBps: 1_000_000,
      now: c.now,
    });
    pacer.enqueue(frame(20));
    c.advance(1);
    pacer.enqueue(frame(5, 100));
    c.advance(5);
    assert.equal(sent.length, 25);
    assert.deepEqual(sent.slice(20), [100, 101, 102, 103, 104]);
    pacer.enqueue(frame(50, 200));
    const before = sent.length;
    pacer.close();
    pacer.close();
    c.advance(10);
    assert.equal(sent.length, before, 'nothing after close');
    assert.ok(before < 75);
  });
});
