/**
 * A SessionPeer gives back what it opened: a pooled session worker serves session after session (and a session
 * renegotiates on each reconnect), so UDP sockets left behind by a closed peer would pile up for the life of the
 * host. The receiver is the in-Node werift answerer; werift's leak did not depend
 * on the answerer being a browser, only on the answer being BUNDLEd.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { RtpHeader, RtpPacket } from 'werift';
import { EXTENSION_IDS } from '../../signaling/protocol/index.js';
import { waitUntil } from '../../signaling/testing/waitFor.js';
import { directRtpSend } from './directRtpSend.js';
import { SessionPeer } from './SessionPeer.js';
import { StreamReceiver } from './testing/receiveStream.js';
import { openVideoEncoder } from './VideoEncoder.js';
import { PLAYOUT_DELAY_ZERO } from './webrtcConfig.js';

const TIMEOUT_MS = 15_000;

const openUdpSockets = () => process.getActiveResourcesInfo().filter((name) => name === 'UDPWrap').length;

/** An in-Node H.264 receiver answering `peer`'s offer, returned once the peer says it is connected. */
async function connectH264Receiver(peer: SessionPeer): Promise<StreamReceiver> {
  const { receiver, answerSdp } = await StreamReceiver.connect({ offerSdp: peer.takeOffer(), codecs: ['H264'] });
  const connected = new Promise<void>((resolve) => peer.once('connected', resolve));
  await peer.acceptAnswer(answerSdp);
  await connected;
  return receiver;
}

/** The host candidates of each m-line, in a comparable form. */
function candidatesPerSection(sdp: string): string[] {
  return sdp
    .split('\r\nm=')
    .slice(1)
    .map((section) =>
      section
        .split('\r\n')
        .filter((line) => line.startsWith('a=candidate:'))
        .sort()
        .join('\n'),
    );
}

test('closing a connected peer closes every UDP socket its ICE gathered', async () => {
  const baseline = openUdpSockets();
  const peer = await SessionPeer.create({
    codecs: ['H264', 'VP8'],
    format: { width: 1280, height: 720, fps: 60 },
    avSync: true,
    log: pino({ level: 'silent' }),
  });
  let receiver: StreamReceiver | undefined;
  try {
    const offer = peer.takeOffer();
    const { receiver: answerer, answerSdp } = await StreamReceiver.connect({
      offerSdp: offer,
      codecs: ['H264', 'VP8'],
    });
    receiver = answerer;
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('not connected in time')), TIMEOUT_MS);
      peer.once('connected', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    await peer.acceptAnswer(answerSdp);
    await connected;
    assert.ok(openUdpSockets() > baseline, 'ICE opened sockets');
    // One ICE transport for the three m-lines (max-bundle): each offers the same host candidates.
    const [first, ...rest] = candidatesPerSection(offer);
    assert.ok(first, 'the offer has candidates');
    for (const section of rest) assert.equal(section, first);
  } finally {
    await peer.close();
    await receiver?.close();
  }
  // A closed dgram socket gives its handle back in a later turn of the loop: wait for that, boundedly.
  for (let turn = 0; turn < 100 && openUdpSockets() > baseline; turn++) await sleep(10);
  assert.equal(openUdpSockets(), baseline, 'no UDP socket outlives the two closed peers');
});

test('sent frames arrive whole; werift’s own bandwidth estimator (unused) keeps no per-packet books', async () => {
  const peer = await SessionPeer.create({
    codecs: ['H264'],
    format: { width: 320, height: 180, fps: 60 },
    avSync: false,
    log: pino({ level: 'silent' }),
  });
  const { encoder } = openVideoEncoder({
    codec: 'H264',
    width: 320,
    height: 180,
    fps: 60,
    bitrateBps: 1_000_000,
    prefer: 'x264',
  });
  let receiver: StreamReceiver | undefined;
  try {
    const answerer = await connectH264Receiver(peer);
    receiver = answerer;
    const frames = 30;
    const pixels = new Uint8Array(320 * 180 * 4);
    for (let i = 0; i < frames; i++) {
      pixels.fill(i * 8);
      const encoded = await encoder.encode({ pixels, layout: 'rgba', pts90k: i * 1500, keyframe: i === 0 });
      assert.ok(encoded);
      assert.ok(peer.sendVideo(encoded.data, i * 1500) > 0, `frame ${i} packetized`);
    }
    await waitUntil(() => answerer.video.framesComplete >= frames, { what: `${frames} whole frames` });
    assert.equal(answerer.video.framesIncomplete, 0, 'every frame arrived whole');
    const stats = peer.stats();
    assert.equal(stats.rtpWeriftPackets, 0, 'no packet needed werift’s own sendRtp');
    assert.equal(stats.rtpDirectPackets, stats.videoPacketsSent, 'every packet took the short path (directRtpSend)');
    // werift 0.25.2 keeps one record per sent packet here, never deleted, unless the session mutes it.
    const estimator = (peer.videoSender as unknown as { senderBWE: { sentInfos: Record<string, unknown> } }).senderBWE;
    assert.equal(Object.keys(estimator.sentInfos).length, 0, 'werift’s estimator recorded no packets');
  } finally {
    await encoder.close();
    await peer.close();
    await receiver?.close();
  }
});

test('directRtpSend puts the same bytes on the wire as werift’s sendRtp, and books the packet the same way', async () => {
  const peer = await SessionPeer.create({
    codecs: ['H264'],
    format: { width: 320, height: 180, fps: 60 },
    avSync: false,
    log: pino({ level: 'silent' }),
  });
  let receiver: StreamReceiver | undefined;
  try {
    receiver = await connectH264Receiver(peer);
    type Booked = { octetCount: number; packetCount: number; headerBytesSent: number; rtpTimestamp: number };
    const sender = peer.videoSender as unknown as Booked & {
      rtpCache: RtpPacket[];
      sendRtp: (p: RtpPacket) => Promise<void>;
    };
    const transport = sender as unknown as {
      dtlsTransport: {
        transportSequenceNumber: number;
        iceTransport: { connection: { send: (d: Buffer) => Promise<void> } };
      };
    };
    const connection = transport.dtlsTransport.iceTransport.connection;
    const wire: Buffer[] = [];
    const realSend = connection.send;
    connection.send = async (data: Buffer) => {
      // RTP only (version 2, not an RTCP type): RTCP and DTLS records share the connection.
      const rtp = (data[0] ?? 0) >> 6 === 2 && !((data[1] ?? 0) >= 192 && (data[1] ?? 0) <= 223);
      if (rtp) wire.push(Buffer.from(data));
    };
    // The same packet twice (a marker, the playout-delay extension as sendVideo adds it), from the same
    // transport-wide seq: once through werift, once the short way.
    const packet = () =>
      new RtpPacket(
        new RtpHeader({
          sequenceNumber: 4242,
          timestamp: 90_000,
          marker: true,
          extensions: [{ id: EXTENSION_IDS.playoutDelay, payload: PLAYOUT_DELAY_ZERO }],
        }),
        Buffer.from('one whole NAL unit, or a fragment of one'),
      );
    const booked = (): Booked => ({
      octetCount: sender.octetCount,
      packetCount: sender.packetCount,
      headerBytesSent: sender.headerBytesSent,
      rtpTimestamp: sender.rtpTimestamp,
    });
    const wideSeq = transport.dtlsTransport.transportSequenceNumber;
    const before = booked();
    try {
      await sender.sendRtp(packet());
      const afterWerift = booked();
      const wideSeqAfterWerift = transport.dtlsTransport.transportSequenceNumber;
      transport.dtlsTransport.transportSequenceNumber = wideSeq;
      Object.assign(sender, before);
      const direct = directRtpSend(peer.videoSender, (error) => assert.fail(String(error)));
      await direct.send(packet());
      assert.equal(direct.directCount, 1, 'it went the short way');
      assert.equal(wire.length, 2);
      assert.deepEqual(wire[1], wire[0], 'SRTP bytes equal (header, extensions, payload, tag)');
      assert.deepEqual(booked(), afterWerift, 'sender-report counters booked alike');
      assert.equal(transport.dtlsTransport.transportSequenceNumber, wideSeqAfterWerift);
      assert.equal(sender.rtpCache[4242 % 128]?.header.sequenceNumber, 4242, 'kept for NACK retransmission');
    } finally {
      connection.send = realSend;
    }
  } finally {
    await peer.close();
    await receiver?.close();
  }
});
