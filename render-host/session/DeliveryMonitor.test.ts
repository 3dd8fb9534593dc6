import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketStatus, RecvDelta, RunLengthChunk, StatusVectorChunk, TransportWideCC } from 'werift';
import { DeliveryMonitor, twccPacketResults } from './DeliveryMonitor.js';

/** A feedback as Chromium sends it, built through werift's own serializer and parser (the bytes on the wire). */
function feedback(base: number, statuses: number[], deltasUs: number[], referenceTime = 1000): TransportWideCC {
  const chunks: (RunLengthChunk | StatusVectorChunk)[] = [];
  for (let i = 0; i < statuses.length; i += 7) {
    const symbols = statuses.slice(i, i + 7);
    while (symbols.length < 7) symbols.push(PacketStatus.TypeTCCPacketNotReceived);
    chunks.push(new StatusVectorChunk({ type: 1, symbolSize: 1, symbolList: symbols }));
  }
  const fb = new TransportWideCC({
    senderSsrc: 1,
    mediaSourceSsrc: 2,
    baseSequenceNumber: base,
    packetStatusCount: statuses.length,
    referenceTime,
    fbPktCount: 0,
    packetChunks: chunks,
    recvDeltas: deltasUs.map(
      (delta) =>
        new RecvDelta({
          type:
            delta >= 0 && delta < 64_000
              ? PacketStatus.TypeTCCPacketReceivedSmallDelta
              : PacketStatus.TypeTCCPacketReceivedLargeDelta,
          delta,
        }),
    ),
  });
  const bytes = fb.serialize();
  return TransportWideCC.deSerialize(bytes.subarray(4), fb.header);
}

describe('twccPacketResults', () => {
  test('decodes status-vector chunks and keeps sub-millisecond arrival deltas', () => {
    const S = PacketStatus.TypeTCCPacketReceivedSmallDelta;
    const N = PacketStatus.TypeTCCPacketNotReceived;
    const fb = feedback(65534, [S, S, N, S], [250, 500, 750]);
    const results = twccPacketResults(fb);
    assert.deepEqual(
      results.map((r) => r.sequenceNumber),
      [65534, 65535, 0, 1],
      'sequence numbers wrap',
    );
    const base = 1000 * 64_000;
    assert.deepEqual(
      results.map((r) => r.receivedAtUs),
      [base + 250, base + 750, undefined, base + 1500],
    );
  });

  test('decodes run-length chunks', () => {
    const fb = new TransportWideCC({
      baseSequenceNumber: 10,
      packetStatusCount: 3,
      referenceTime: 2,
      packetChunks: [
        new RunLengthChunk({ type: 0, packetStatus: PacketStatus.TypeTCCPacketReceivedSmallDelta, runLength: 3 }),
      ],
      recvDeltas: [1000, 1000, 1000].map(
        (delta) => new RecvDelta({ type: PacketStatus.TypeTCCPacketReceivedSmallDelta, delta }),
      ),
    });
    assert.deepEqual(
      twccPacketResults(fb).map((r) => r.receivedAtUs),
      [129_000, 130_000, 131_000],
    );
  });
});

describe('DeliveryMonitor', () => {
  const S = PacketStatus.TypeTCCPacketReceivedSmallDelta;
  const N = PacketStatus.TypeTCCPacketNotReceived;

  test('no queue when one-way delay stays at its minimum; queue when it grows; loss when packets are missing', () => {
    const m = new DeliveryMonitor();
    // 10 packets of 1200 bytes sent 5 ms apart, received 5 ms apart: a clear path.
    for (let i = 0; i < 10; i++) m.recordSent(100 + i, 1200, 10_000 + i * 5);
    const first = m.onFeedback(feedback(100, Array(10).fill(S), Array(10).fill(5000)), 10_100);
    assert.ok(first);
    assert.equal(first.queueDelayMs, 0);
    assert.equal(first.lossFraction, 0);
    // Next 10 sent 5 ms apart but arriving 20 ms apart: a queue building up to ~135 ms.
    for (let i = 0; i < 10; i++) m.recordSent(110 + i, 1200, 10_050 + i * 5);
    const second = m.onFeedback(feedback(110, Array(10).fill(S), [55_000, ...Array(9).fill(20_000)]), 10_300);
    assert.ok(second && second.queueDelayMs > 50, `queue ${second?.queueDelayMs}`);
    assert.ok(second.deliveredBps !== undefined && second.deliveredBps < 1200 * 8 * (1000 / 5));
    for (let i = 0; i < 4; i++) m.recordSent(120 + i, 1200, 10_400 + i * 5);
    const third = m.onFeedback(feedback(120, [S, N, N, S], [80_000, 5000]), 10_500);
    assert.ok(third && third.lossFraction > 0.1);
  });

  test('ignores feedback about packets it did not send, and counts each packet once', () => {
    const m = new DeliveryMonitor();
    assert.equal(m.onFeedback(feedback(500, [S, S], [1000, 1000]), 0), undefined);
    m.recordSent(600, 1000, 0);
    assert.equal(m.onFeedback(feedback(600, [S], [1000]), 10)?.packets, 1);
    assert.equal(m.onFeedback(feedback(600, [S], [1000]), 20), undefined);
  });
});
