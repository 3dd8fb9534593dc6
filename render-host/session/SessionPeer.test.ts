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
import { waitUntil } from '../../signaling/testing/waitFor.js';
import { SessionPeer } from './SessionPeer.js';
import { StreamReceiver } from './testing/receiveStream.js';
import { openVideoEncoder } from './VideoEncoder.js';

const TIMEOUT_MS = 15_000;

const openUdpSockets = () => process.getActiveResourcesInfo().filter((name) => name === 'UDPWrap').length;

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
    const { receiver: answerer, answerSdp } = await StreamReceiver.connect({
      offerSdp: peer.takeOffer(),
      codecs: ['H264'],
    });
    receiver = answerer;
    const connected = new Promise<void>((resolve) => peer.once('connected', resolve));
    await peer.acceptAnswer(answerSdp);
    await connected;
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
    // werift 0.25.2 keeps one record per sent packet here, never deleted, unless the session mutes it.
    const estimator = (peer.videoSender as unknown as { senderBWE: { sentInfos: Record<string, unknown> } }).senderBWE;
    assert.equal(Object.keys(estimator.sentInfos).length, 0, 'werift’s estimator recorded no packets');
  } finally {
    await encoder.close();
    await peer.close();
    await receiver?.close();
  }
});
