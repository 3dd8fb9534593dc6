/**
 * Probe streams from the probe worker to in-Node werift receivers on loopback: a 320×180 test card at the
 * host's rate, pings echoed on `input`, and the test hooks (fps cap, delayed replies) taking effect on a live
 * probe. Bounded: every wait has a timeout; no timing assertions except lower bounds the hooks guarantee.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { PROBE_VIDEO_HEIGHT, PROBE_VIDEO_WIDTH } from '../../signaling/protocol/index.js';
import { type ProbeStream, ProbeStreams, StreamReceiver, type StreamStats, TestHookSwitch } from './index.js';
import { medianRtpStep } from './testing/probeMeasures.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
let nextId = 1;
const probeId = () => `0x${(0xb0000 + nextId++).toString(16).padStart(64, '0')}`;

async function openProbe(probes: ProbeStreams) {
  const stats: StreamStats[] = [];
  const ended: string[] = [];
  let resolveOffer: (sdp: string) => void = () => undefined;
  const offer = new Promise<string>((resolve) => {
    resolveOffer = resolve;
  });
  const stream: ProbeStream = await probes.open({
    probeId: probeId(),
    codecs: ['H264'],
    events: {
      offer: (sdp) => resolveOffer(sdp),
      ice: () => undefined,
      connected: () => undefined,
      stats: (s) => stats.push(s),
      ended: (reason) => ended.push(reason),
    },
  });
  const { receiver, answerSdp } = await StreamReceiver.connect({ offerSdp: await offer, codecs: ['H264'] });
  await stream.acceptAnswer(answerSdp);
  const rtpTimestamps: number[] = [];
  receiver.on('frame', (frame) => rtpTimestamps.push(frame.rtpTimestamp));
  return { stream, receiver, stats, ended, rtpTimestamps };
}

describe('ProbeStreams', () => {
  const hooks = new TestHookSwitch();
  const probes = new ProbeStreams({ fps: 60, testHooks: hooks, log });
  after(async () => {
    await probes.close();
  });

  test('warm() boots the worker before any probe (the host calls it before registering); idle, it stops', async () => {
    const warmed = new ProbeStreams({ fps: 60, idleTimeoutMs: 300, log });
    try {
      assert.equal(warmed.workerRunning, false);
      await warmed.warm();
      assert.equal(warmed.workerRunning, true, 'booted with no probe asked for');
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(warmed.workerRunning, false, 'stopped after the idle timeout');
    } finally {
      await warmed.close();
    }
  });

  test('a probe streams the small test card and echoes pings; closing it ends the stream', async () => {
    const p = await openProbe(probes);
    try {
      await p.receiver.waitFor('30 complete frames', () => p.receiver.video.framesComplete >= 30, 30_000);
      await p.receiver.channelOpen('input');
      const rtts: number[] = [];
      for (let i = 0; i < 10; i++) rtts.push(await p.receiver.ping());
      assert.ok(rtts.every((rtt) => Number.isFinite(rtt) && rtt >= 0));
      assert.equal(p.receiver.video.codec, 'H264');
      assert.equal(probes.active, 1);
      await p.receiver.waitFor('stats', () => p.stats.some((s) => s.framesSent > 0), 10_000);
      const last = p.stats.at(-1);
      assert.equal(last?.width, PROBE_VIDEO_WIDTH);
      assert.equal(last?.height, PROBE_VIDEO_HEIGHT);
      assert.equal(last?.audioPacketsSent, 0, 'a probe sends no audio');
    } finally {
      await p.stream.close();
    }
    assert.equal(probes.active, 0);
    const framesAtClose = p.receiver.video.framesComplete;
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.ok(p.receiver.video.framesComplete <= framesAtClose + 2, 'no frames after the probe closed');
    assert.deepEqual(p.ended, [], 'an explicit close is not an `ended` event');
    await p.receiver.close();
  });

  test('test hooks: the fps cap spaces frames ≥ 1/10 s apart on the media clock; replies come ≥ 150 ms late', async () => {
    const p = await openProbe(probes);
    try {
      await p.receiver.waitFor('20 complete frames', () => p.receiver.video.framesComplete >= 20, 30_000);
      await p.receiver.channelOpen('input');
      const baselineStep = medianRtpStep(p.rtpTimestamps.splice(0));
      const baselineRtt = await p.receiver.ping();

      await hooks.set({ fpsCap: 10, dataChannelDelayMs: 200 });
      // Frames already on their way may still arrive at the old rate: start counting after the pings.
      const delayedRtts: number[] = [];
      for (let i = 0; i < 3; i++) delayedRtts.push(await p.receiver.ping());
      p.rtpTimestamps.splice(0);
      const before = p.receiver.video.framesComplete;
      await p.receiver.waitFor('12 capped frames', () => p.receiver.video.framesComplete >= before + 12, 30_000);
      const cappedStep = medianRtpStep(p.rtpTimestamps);

      assert.ok(baselineStep < 9000, `uncapped: median RTP step ${baselineStep} (< 9000 = more than 10 fps)`);
      assert.ok(cappedStep >= 9000, `capped to 10 fps: median RTP step ${cappedStep} ≥ 9000 (90 kHz / 10)`);
      for (const rtt of delayedRtts) assert.ok(rtt >= 150, `ping RTT ${rtt} ms with +200 ms (baseline ${baselineRtt})`);

      await hooks.set({ dataChannelDelayMs: 0 });
      const frames = p.receiver.video.framesComplete;
      await p.receiver.waitFor(
        'frames after the hooks are cleared',
        () => p.receiver.video.framesComplete > frames + 5,
      );
    } finally {
      await hooks.set({ dataChannelDelayMs: 0 });
      await p.stream.close();
      await p.receiver.close();
    }
  });
});
