/**
 * A real render host serving a checker's probe through real signaling: signaling assigns the container to a
 * registered checker and sends `start-probe`; the host's probe worker offers a stream, which the checker (a
 * scripted signaling peer plus a werift receive-only peer on loopback) answers through signaling. The probe
 * delivers frames and echoes pings without taking a slot; the host's test hooks, switched over HTTP, cap its
 * frame rate and delay its pongs; `probe-done` ends it. Bounded waits; no timing assertions beyond the lower
 * bounds the hooks guarantee.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { privateKeyToAccount } from 'viem/accounts';
import { DEFAULT_CHECK_SETTINGS } from '../../signaling/checkers/CheckerDesk.js';
import type { ServerMessageOf } from '../../signaling/protocol/index.js';
import { startTestSignaling, type TestSignaling } from '../../signaling/testing/startTestSignaling.js';
import { connectTestChecker, type TestChecker } from '../../signaling/testing/TestChecker.js';
import { BUILTIN_GAMES } from '../games/index.js';
import { ProbeStreams, StreamReceiver, TestHookSwitch } from '../session/index.js';
import { medianRtpStep } from '../session/testing/probeMeasures.js';
import type { RenderHostHandle } from './startRenderHost.js';
import { startTestRenderHost } from './testing/startTestRenderHost.js';

const stakedProvider = async (signaling: TestSignaling) =>
  privateKeyToAccount((await signaling.chain.newStakedAccount('software')).privateKey);

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });

type SessionsView = { slots: Array<{ state: string }>; probes: Array<{ sessionId: string; connected: boolean }> };

describe('render host: checkers’ probe streams', () => {
  let signaling: TestSignaling;
  let checker: TestChecker;
  let handle: RenderHostHandle;
  let probes: ProbeStreams;
  let receiver: StreamReceiver;
  let assignment: ServerMessageOf<'check-assignment'>;
  const rtpTimestamps: number[] = [];

  before(async () => {
    signaling = await startTestSignaling({ checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 600_000 } });
    checker = await connectTestChecker(signaling);
    const testHooks = new TestHookSwitch();
    const games = BUILTIN_GAMES.slice(0, 1);
    probes = new ProbeStreams({ fps: Math.max(...games.map((g) => g.fps)), testHooks, log });
    handle = await startTestRenderHost({
      hostId: 'probed-host',
      provider: await stakedProvider(signaling),
      signalingNodeUrl: signaling.wsNodeUrl,
      games,
      heartbeatIntervalMs: 500,
      probes,
      testHooks,
      testHooksEndpoint: true,
      log,
    });
  });

  after(async () => {
    await receiver?.close();
    await handle?.close();
    await probes?.close();
    checker?.peer.terminate();
    await signaling?.close();
  });

  test('start-probe: the host offers a probe stream that delivers frames and echoes pings, in no slot', async () => {
    assignment = await checker.peer.next('check-assignment', 15_000);
    assert.equal(assignment.container, handle.host.hostId);
    const offer = await checker.peer.next('offer', 20_000);
    assert.equal(offer.sessionId, assignment.probeSessionId);
    const connected = await StreamReceiver.connect({ offerSdp: offer.sdp, codecs: ['H264'] });
    receiver = connected.receiver;
    receiver.on('frame', (frame) => rtpTimestamps.push(frame.rtpTimestamp));
    checker.peer.send({ type: 'answer', sessionId: offer.sessionId, sdp: connected.answerSdp });

    await receiver.waitFor('30 complete frames', () => receiver.video.framesComplete >= 30, 30_000);
    await receiver.channelOpen('input');
    const rtts: number[] = [];
    for (let i = 0; i < 10; i++) rtts.push(await receiver.ping());
    assert.ok(
      rtts.every((rtt) => Number.isFinite(rtt) && rtt >= 0),
      `pings echoed: ${rtts.join(', ')}`,
    );

    assert.equal(handle.host.busySlots, 0, 'a probe takes no slot');
    assert.equal(handle.host.activeProbes, 1);
    const view = (await (await fetch(`${handle.httpUrl}/sessions`)).json()) as SessionsView;
    assert.deepEqual(
      view.slots.map((s) => s.state),
      ['free'],
    );
    assert.deepEqual(
      view.probes.map((p) => [p.sessionId, p.connected]),
      [[assignment.probeSessionId, true]],
    );
    // Signaling's view of the slot, from the host's heartbeats: still free for players.
    assert.equal(signaling.hub.hosts.get(handle.host.hostId)?.slots[0]?.state, 'free');
  });

  test('test hooks over HTTP: 10 fps cap lowers the received frame rate; +200 ms delays the pongs', async () => {
    const baselineStep = medianRtpStep(rtpTimestamps.splice(0));
    const bad = await fetch(`${handle.httpUrl}/test-hooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ fpsCap: 0 }),
    });
    assert.equal(bad.status, 400, 'an out-of-range hook is refused');
    const response = await fetch(`${handle.httpUrl}/test-hooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ fpsCap: 10, dataChannelDelayMs: 200 }),
    });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { fpsCap: 10, dataChannelDelayMs: 200 });

    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) rtts.push(await receiver.ping());
    rtpTimestamps.splice(0);
    const before = receiver.video.framesComplete;
    await receiver.waitFor('12 capped frames', () => receiver.video.framesComplete >= before + 12, 30_000);
    const cappedStep = medianRtpStep(rtpTimestamps);
    assert.ok(baselineStep < 9000, `uncapped: median RTP step ${baselineStep} (< 9000 = more than 10 fps)`);
    assert.ok(cappedStep >= 9000, `capped: median RTP step ${cappedStep} ≥ 9000 (≤ 10 fps on the 90 kHz clock)`);
    for (const rtt of rtts) assert.ok(rtt >= 150, `ping RTT ${rtt} ms with the +200 ms hook`);

    const cleared = await fetch(`${handle.httpUrl}/test-hooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ fpsCap: null, dataChannelDelayMs: 0 }),
    });
    assert.deepEqual(await cleared.json(), { dataChannelDelayMs: 0 });
  });

  test('probe-done: signaling sends stop-probe and the host ends the stream', async () => {
    checker.peer.send({ type: 'probe-done', sessionId: assignment.probeSessionId });
    await receiver.waitFor('the probe to end on the host', () => handle.host.activeProbes === 0, 10_000);
    await receiver.waitFor('the probe worker to close it', () => probes.active === 0, 10_000);
    const frames = receiver.video.framesComplete;
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.ok(receiver.video.framesComplete <= frames + 2, 'no more frames once stopped');
    assert.equal(handle.host.busySlots, 0);
  });
});

describe('render host: a probe nobody stops', () => {
  test('ends by itself after probeMaxDurationMs, and a host without a probe service ignores start-probe', async () => {
    const signaling = await startTestSignaling({ checks: { ...DEFAULT_CHECK_SETTINGS, intervalMs: 600_000 } });
    const checker = await connectTestChecker(signaling);
    // Nothing else ends this probe in time: no connect timeout before 60 s, signaling's deadline is 25 s.
    const probes = new ProbeStreams({ fps: 30, connectTimeoutMs: 60_000, log });
    const common = { signalingNodeUrl: signaling.wsNodeUrl, heartbeatIntervalMs: 500, log } as const;
    const handles: RenderHostHandle[] = [];
    try {
      handles.push(
        await startTestRenderHost({
          ...common,
          hostId: 'unstopped-host',
          provider: await stakedProvider(signaling),
          probes,
          probeMaxDurationMs: 4_000,
        }),
      );
      const offer = await checker.peer.next('offer', 20_000);
      // The checker never answers nor says probe-done: only the host's own bound ends the probe.
      const deadline = Date.now() + 15_000;
      while ((handles[0]?.host.activeProbes ?? 0) > 0 || probes.active > 0) {
        assert.ok(Date.now() < deadline, `probe ${offer.sessionId} still open`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // A host without a probe service: the assignment comes, no offer does, and nothing breaks.
      const before = checker.peer.received.filter((m) => m.type === 'offer').length;
      handles.push(
        await startTestRenderHost({ ...common, hostId: 'probeless-host', provider: await stakedProvider(signaling) }),
      );
      const assignment = await checker.peer.next('check-assignment', 15_000);
      assert.ok(handles.some((handle) => handle.host.hostId === assignment.container));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(checker.peer.received.filter((m) => m.type === 'offer').length, before);
      assert.equal(handles[1]?.host.activeProbes, 0);
      assert.equal(handles[1]?.host.busySlots, 0);
    } finally {
      for (const handle of handles) await handle.close();
      await probes.close();
      checker.peer.terminate();
      await signaling.close();
    }
  });
});
