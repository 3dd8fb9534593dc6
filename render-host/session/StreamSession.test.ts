/**
 * A real session (worker thread, Neon Drift, libx264/libvpx, libopus, werift) streamed over loopback to an
 * in-Node werift receive-only peer. Bounded: every wait has a timeout and `after` closes everything.
 * No timing assertions: the machine's two cores are shared.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import {
  startTestTurnServer,
  type TestTurnServer,
  turnServerMissingReason,
} from '../../signaling/ice/testing/startTestTurnServer.js';
import { issueTurnCredentials } from '../../signaling/ice/turnCredentials.js';
import { type CodecName, KeyInput, keyIdFromCode } from '../../signaling/protocol/index.js';
import { createGameRuntime } from '../games/index.js';
import {
  NO_TEST_HOOKS,
  SessionWorkerPool,
  StreamSession,
  type StreamSessionParameters,
  type StreamStats,
} from './index.js';
import { readThreadStat, SCHED_OTHER, SCHED_RR } from './realtimeThread.js';
import { rtpAtOrAfter, StreamReceiver } from './testing/receiveStream.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const encoder = {
  prefer: 'auto',
  minBitrateBps: 500_000,
  startBitrateBps: 3_000_000,
  maxBitrateBps: 6_000_000,
} as const;
let nextId = 1;
const sessionId = () => `0x${(nextId++).toString(16).padStart(64, '0')}`;

type Connected = {
  session: StreamSession;
  receiver: StreamReceiver;
  stats: StreamStats[];
  ended: [string, string][];
  offer: string;
};

async function connect(
  params: Partial<StreamSessionParameters> & { receiverCodecs?: CodecName[]; decodeVideo?: boolean },
): Promise<Connected> {
  const session = await StreamSession.start({
    sessionId: sessionId(),
    game: 'neon-drift',
    codecs: ['H264', 'VP8'],
    encoder,
    seed: 7,
    log,
    ...params,
  });
  const stats: StreamStats[] = [];
  const ended: [string, string][] = [];
  session.on('stats', (s) => stats.push(s));
  session.on('ended', (reason, message) => ended.push([reason, message]));
  const offer = await new Promise<string>((resolve) => session.once('offer', resolve));
  const { receiver, answerSdp } = await StreamReceiver.connect({
    offerSdp: offer,
    codecs: params.receiverCodecs ?? ['H264', 'VP8'],
    decodeVideo: params.decodeVideo ?? false,
    decodeAudio: true,
  });
  await session.acceptAnswer(answerSdp);
  return { session, receiver, stats, ended, offer };
}

describe('StreamSession: H.264 to a werift receiver', () => {
  let c: Connected;
  before(async () => {
    c = await connect({ decodeVideo: true });
  });
  after(async () => {
    await c?.receiver.close();
    await c?.session.close();
  });

  test('the offer carries both tracks in one stream, the codecs in order, playout-delay and TWCC', async () => {
    const s2 = await StreamSession.start({
      sessionId: sessionId(),
      game: 'neon-drift',
      codecs: ['VP8', 'H264'],
      encoder,
      log,
    });
    try {
      const offer = await new Promise<string>((resolve) => s2.once('offer', resolve));
      const msids = offer.split('\r\n').filter((l) => l.startsWith('a=msid:'));
      assert.equal(msids.length, 2, 'video and audio both have a=msid');
      assert.equal(new Set(msids.map((l) => l.split(' ')[0])).size, 1, 'in the same MediaStream');
      const video = offer.slice(offer.indexOf('m=video'), offer.indexOf('m=audio'));
      assert.ok(video.indexOf('VP8/90000') < video.indexOf('H264/90000'), 'preferred codec first');
      // 1280×720 at 60 fps: level 3.2, in the offer and in the encoder's SPS.
      assert.match(video, /packetization-mode=1;profile-level-id=42e020/);
      assert.match(video, /a=extmap:4 http:\/\/www\.webrtc\.org\/experiments\/rtp-hdrext\/playout-delay/);
      assert.match(video, /transport-wide-cc/);
      assert.match(video, /a=rtcp-fb:\d+ nack pli/);
      assert.match(offer, /opus\/48000\/2/);
      assert.match(offer, /a=sendonly/);
      assert.doesNotMatch(offer, /typ srflx/, 'no STUN server is ever asked');
      assert.equal((offer.match(/m=application/g) ?? []).length, 1, 'data channels negotiated');
    } finally {
      await s2.close();
    }
  });

  test('complete H.264 frames arrive, the first a keyframe, every packet with playout-delay 0', async () => {
    const { receiver } = c;
    await receiver.waitFor('30 complete frames', () => receiver.video.framesComplete >= 30);
    assert.equal(receiver.video.codec, 'H264');
    assert.ok(receiver.video.keyframes >= 1);
    assert.equal(receiver.video.framesIncomplete, 0, 'loopback: nothing lost');
    assert.equal(receiver.video.packetsWithoutPlayoutDelay, 0);
    await receiver.waitFor('a decoded frame', () => receiver.video.framesDecoded > 0);
    assert.equal(receiver.lastDecoded?.width, 1280);
    assert.equal(receiver.lastDecoded?.height, 720);
    assert.equal(receiver.video.decodeErrors, 0);
  });

  test('Opus packets arrive and decode to sound', async () => {
    const { receiver } = c;
    await receiver.waitFor('50 Opus packets', () => receiver.audio.packets >= 50);
    assert.equal(receiver.audio.codec?.toLowerCase(), 'opus');
    await receiver.waitFor('decoded audio', () => receiver.audio.decodedSamples > 0);
    assert.ok(receiver.audio.peakLevel > 0.01, `music is playing (peak ${receiver.audio.peakLevel})`);
  });

  test('a ping on the input channel gets its pong', async () => {
    await c.receiver.channelOpen('input');
    const rttMs = await c.receiver.ping();
    assert.ok(Number.isFinite(rttMs) && rttMs >= 0);
  });

  test('a PLI brings a keyframe back', async () => {
    const { receiver } = c;
    const before = receiver.video.keyframes;
    await receiver.requestKeyframe();
    await receiver.waitFor('a keyframe after PLI', () => receiver.video.keyframes > before);
  });

  test('input over the data channel reaches the game: a frame mark names the RTP frame it first shows in', async () => {
    const { receiver } = c;
    await receiver.waitFor('a frame mark', () => receiver.lastMark !== undefined);
    const first = receiver.lastMark;
    receiver.send(new KeyInput(41, keyIdFromCode('ArrowRight') ?? 0, true).serialize());
    receiver.send(new KeyInput(42, keyIdFromCode('ArrowRight') ?? 0, false).serialize());
    await receiver.waitFor('a mark for input 42', () => receiver.lastMark?.inputSeq === 42);
    const mark = receiver.lastMark;
    assert.ok(mark && first);
    assert.ok(mark.frame > first.frame, 'frame numbers advance');
    assert.ok(rtpAtOrAfter(mark.rtpTimestamp, first.rtpTimestamp) && mark.rtpTimestamp !== first.rtpTimestamp);
    // The marked RTP timestamp is one the video carries: its frame arrives.
    await receiver.waitFor('the marked frame', () => receiver.receivedFrameAtOrAfter(mark.rtpTimestamp));
    assert.equal(receiver.unexpectedMessages, 0);
    // The host names the encoder it really uses, the one its stats (and metrics) report.
    await receiver.waitFor('stream info', () => receiver.streamInfo !== undefined);
    await receiver.waitFor('stats', () => c.stats.length > 0);
    assert.equal(receiver.streamInfo?.encoder, c.stats.at(-1)?.encoder);
    assert.deepEqual([receiver.streamInfo?.width, receiver.streamInfo?.height], [1280, 720]);
  });

  test('malformed input is counted and ignored; the stream goes on', async () => {
    const { receiver, session, stats } = c;
    receiver.send(new Uint8Array([0xff, 1, 2]));
    receiver.send(new Uint8Array([1, 0, 0, 0, 0, 9]), 'input-state');
    receiver.send(new Uint8Array(0));
    session.relayInput(new Uint8Array([200, 1, 2, 3, 4, 5]));
    const frames = receiver.video.framesComplete;
    await receiver.waitFor('stats counting bad input', () => (stats.at(-1)?.badInputMessages ?? 0) >= 3);
    await receiver.waitFor('more frames', () => receiver.video.framesComplete > frames + 10);
    assert.deepEqual(c.ended, []);
    assert.equal(receiver.unexpectedMessages, 0);
  });

  test('snapshot() hands out the game state, and a new session resumes exactly from it', async () => {
    const snapshot = await c.session.snapshot();
    assert.equal(snapshot?.game, 'neon-drift');
    assert.ok(((snapshot?.state as { tick?: number } | undefined)?.tick ?? 0) > 0, 'the game has been running');
    const resumed = await StreamSession.start({
      sessionId: sessionId(),
      game: 'neon-drift',
      codecs: ['H264'],
      encoder,
      resumeState: snapshot,
      log,
    });
    try {
      // Not connected yet, so the game is paused: its state is the snapshot's, to the bit.
      assert.deepEqual(await resumed.snapshot(), snapshot);
    } finally {
      await resumed.close();
    }
  });

  test('stats every second: sending fps, encoder, codec, bitrate, encode times', async () => {
    const { receiver, stats } = c;
    await receiver.waitFor('a stats event while streaming', () => (stats.at(-1)?.framesSent ?? 0) > 0);
    const last = stats.at(-1);
    assert.ok(last);
    assert.equal(last.codec, 'H264');
    assert.equal(last.encoder, 'libx264');
    assert.equal(last.width, 1280);
    assert.ok(last.fps > 0 && last.bitrateBps > 0 && last.encodeMsP50 > 0);
    assert.ok(last.targetBitrateBps >= encoder.minBitrateBps && last.targetBitrateBps <= encoder.maxBitrateBps);
    assert.equal(last.playoutDelay, true);
    assert.ok(last.inputMessages >= 2);
  });
});

describe('StreamSession: VP8, reconnects and endings', () => {
  const open: Connected[] = [];
  after(async () => {
    for (const c of open) {
      await c.receiver.close();
      await c.session.close();
    }
  });

  test('VP8 when the player prefers it', async () => {
    const c = await connect({ codecs: ['VP8', 'H264'], receiverCodecs: ['VP8', 'H264'] });
    open.push(c);
    await c.receiver.waitFor('VP8 frames', () => c.receiver.video.framesComplete >= 20);
    assert.equal(c.receiver.video.codec, 'VP8');
    assert.ok(c.receiver.video.keyframes >= 1);
    const before = c.receiver.video.keyframes;
    await c.receiver.requestKeyframe();
    await c.receiver.waitFor('a VP8 keyframe after PLI', () => c.receiver.video.keyframes > before);
    await c.receiver.waitFor('stats', () => c.stats.at(-1)?.codec === 'VP8');
    assert.equal(c.stats.at(-1)?.encoder, 'libvpx');
  });

  test('restartTransport: a new offer, a new peer, the same game going on', async () => {
    const c = await connect({ decodeVideo: true, reconnectGraceMs: 10_000 });
    open.push(c);
    await c.receiver.waitFor('a frame mark', () => c.receiver.lastMark !== undefined);
    const frameBefore = c.receiver.lastMark?.frame ?? 0;
    await c.receiver.close();
    const offer = new Promise<string>((resolve) => c.session.once('offer', resolve));
    await c.session.restartTransport(['H264']);
    const { receiver, answerSdp } = await StreamReceiver.connect({ offerSdp: await offer, decodeVideo: true });
    c.receiver = receiver;
    await c.session.acceptAnswer(answerSdp);
    // The mark may overtake its frame (it is not paced): wait for both.
    await receiver.waitFor(
      'frames on the new transport',
      () => receiver.lastMark !== undefined && receiver.video.framesComplete > 0,
    );
    assert.ok((receiver.lastMark?.frame ?? 0) > frameBefore, 'frame numbers continue: same session');
    assert.ok(receiver.video.keyframes >= 1, 'the new peer starts on a keyframe');
    assert.deepEqual(c.ended, []);
  });

  test('the player leaving ends the session as player-left; close() afterwards is a no-op', async () => {
    const c = await connect({ reconnectGraceMs: 100 });
    open.push(c);
    await c.receiver.waitFor('frames', () => c.receiver.video.framesComplete >= 5);
    const ended = new Promise<[string, string]>((resolve) => c.session.once('ended', (r, m) => resolve([r, m])));
    await c.receiver.close();
    const [reason] = await ended;
    assert.equal(reason, 'player-left');
    assert.equal(c.session.closed, true);
    await c.session.close();
    await assert.rejects(c.session.acceptAnswer('v=0'), { code: 'ATH_ERR_SESSION_CLOSED' });
  });

  test('a pooled worker warms up (a whole session to itself), streams a real one, and comes back for the next', async () => {
    const lines: Array<{ msg?: string; completed?: boolean; stepsMs?: Record<string, number> }> = [];
    const poolLog = pino(
      { level: 'info' },
      { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[0]) },
    );
    const pool = new SessionWorkerPool({ size: 1, log: poolLog });
    try {
      assert.equal(pool.idle, 1);
      await pool.warm();
      const warmed = lines.find((line) => line.msg === 'session worker warmed');
      assert.equal(warmed?.completed, true, JSON.stringify(lines));
      assert.deepEqual(Object.keys(warmed?.stepsMs ?? {}), ['render', 'encode', 'connect', 'media']);
      const c = await connect({ pool, codecs: ['H264'], receiverCodecs: ['H264'], realtimePriority: 1 });
      let tid: number | undefined;
      try {
        assert.deepEqual([pool.idle, pool.lent], [0, 1], 'lent, and no replacement booting: it comes back');
        await c.receiver.waitFor('frames', () => c.receiver.video.framesComplete >= 3);
        assert.equal(c.receiver.video.codec, 'H264');
        // Its thread streams at real-time priority (where this process may raise threads: root here and in CI).
        tid = c.session.realtimeThread?.tid;
        assert.ok(tid, 'the worker said which OS thread it is');
        for (let waited = 0; c.session.realtimeThread?.state === 'raising' && waited < 5_000; waited += 20)
          await sleep(20);
        // Where it may not (no CAP_SYS_NICE, as in a container's default root), the refusal says so.
        if (c.session.realtimeThread?.state === 'refused')
          assert.match(c.session.realtimeThread.refusal ?? '', /permitted/);
        else assert.equal(readThreadStat(tid)?.policy, SCHED_RR);
      } finally {
        await c.receiver.close();
        await c.session.close();
      }
      assert.deepEqual([pool.idle, pool.lent, pool.spawned, pool.reused], [1, 0, 1, 1], 'back, kept, none booted');
      assert.equal(readThreadStat(tid)?.policy, SCHED_OTHER, 'and waits for its next session at normal priority');
    } finally {
      await pool.close();
      await pool.close();
    }
  });

  test('an explicit close ends without an ended event and is idempotent', async () => {
    const session = await StreamSession.start({
      sessionId: sessionId(),
      game: 'neon-drift',
      codecs: ['H264'],
      encoder,
      log,
    });
    const ended: string[] = [];
    session.on('ended', (reason) => ended.push(reason));
    await Promise.all([session.close(), session.close()]);
    await session.close();
    assert.deepEqual(ended, []);
    assert.equal(session.closed, true);
  });

  test('a garbage answer is a typed negotiation error, not a crash', async () => {
    const session = await StreamSession.start({
      sessionId: sessionId(),
      game: 'neon-drift',
      codecs: ['H264'],
      encoder,
      log,
    });
    try {
      await new Promise<string>((resolve) => session.once('offer', resolve));
      await assert.rejects(session.acceptAnswer('v=0\r\nnot an answer'), { code: 'ATH_ERR_NEGOTIATION' });
      assert.equal(session.closed, false);
    } finally {
      await session.close();
    }
  });

  test('bad parameters are refused before any worker starts', async () => {
    await assert.rejects(
      StreamSession.start({ sessionId: sessionId(), game: 'pong', codecs: ['H264'], encoder, log }),
      { code: 'ATH_ERR_UNKNOWN_GAME' },
    );
    await assert.rejects(
      StreamSession.start({
        sessionId: sessionId(),
        game: 'neon-drift',
        codecs: ['H264'],
        encoder: { ...encoder, minBitrateBps: 9_000_000 },
        log,
      }),
      { code: 'ATH_ERR_SESSION_PARAMETERS' },
    );
  });
});

describe('a reused session worker starts its next session clean', { skip: turnServerMissingReason() }, () => {
  let turn: TestTurnServer;
  const pool = new SessionWorkerPool({ size: 1, warmUp: false, log });
  before(async () => {
    turn = await startTestTurnServer();
  });
  after(async () => {
    await pool.close();
    await turn?.close();
  });

  test('game, input, test hooks, TURN credentials, DTLS key, peer and events of the first stay with the first', async () => {
    // Session A: TURN with its own credentials, input, a degraded stream, a game that ran.
    const creds = issueTurnCredentials({ secret: turn.secret, sessionId: sessionId(), ttlSec: 600 });
    const a = await connect({
      pool,
      seed: 7,
      codecs: ['H264'],
      receiverCodecs: ['H264'],
      ice: { iceServers: [{ urls: [turn.urls.udp], username: creds.username, credential: creds.credential }] },
      // A lying host (test hook): its pongs echo a time 10 s ahead, so A's pings measure a negative RTT.
      testHooks: { ...NO_TEST_HOOKS, forgePongAheadMs: 10_000 },
    });
    const offerA = a.offer;
    let threadA: number;
    try {
      assert.match(offerA, / typ relay /, 'session A relays through its TURN server');
      a.session.relayInput(new KeyInput(1, keyIdFromCode('ArrowRight') ?? 0, true).serialize());
      await a.receiver.waitFor('frames', () => a.receiver.video.framesComplete >= 3);
      await a.receiver.waitFor('A counts its input', () => (a.stats.at(-1)?.inputMessages ?? 0) >= 1);
      const stateA = await a.session.snapshot();
      assert.ok(((stateA?.state as { tick?: number } | undefined)?.tick ?? 0) > 0, 'A’s game ran');
      await a.receiver.channelOpen('input');
      assert.ok((await a.receiver.ping()) < 0, 'A’s pongs are forged');
      threadA = a.session.workerThreadId;
    } finally {
      await a.receiver.close();
      await a.session.close('player-quit');
    }
    const allocationsAfterA = (turn.log().match(/ALLOCATE processed, success/g) ?? []).length;
    assert.ok(allocationsAfterA >= 1, 'coturn saw A’s allocation');
    assert.deepEqual([pool.idle, pool.spawned, pool.reused], [1, 1, 1], 'A’s worker is back in the pool');

    // Session B on the same thread: no ICE servers, another seed, no hooks.
    const b = await StreamSession.start({
      sessionId: sessionId(),
      game: 'neon-drift',
      codecs: ['H264'],
      encoder,
      seed: 9,
      log,
      pool,
    });
    const eventsB: string[] = [];
    const statsB: StreamStats[] = [];
    b.on('ended', (reason) => eventsB.push(`ended ${reason}`));
    b.on('stats', (stats) => statsB.push(stats));
    try {
      assert.equal(b.workerThreadId, threadA, 'B runs on A’s worker');
      const offerB = await new Promise<string>((resolve) => b.once('offer', resolve));
      b.on('offer', () => eventsB.push('another offer'));
      assert.doesNotMatch(offerB, / typ relay /, 'A’s TURN server and credentials are not B’s');
      const field = (sdp: string, name: string) => sdp.match(new RegExp(`a=${name}[: ](\\S+)`))?.[1];
      for (const name of ['ice-ufrag', 'ice-pwd', 'fingerprint:sha-256']) {
        assert.ok(field(offerB, name), name);
        assert.notEqual(field(offerB, name), field(offerA, name), `B has its own ${name}`);
      }
      // Not connected yet, so B's game has not ticked: exactly a new game from B's seed.
      const fresh = createGameRuntime({ game: 'neon-drift', seed: 9 }).snapshot();
      assert.deepEqual(await b.snapshot(), fresh, 'B’s game is a new one, none of A’s state or input');
      const first = await new Promise<StreamStats>((resolve) => b.once('stats', resolve));
      assert.deepEqual([first.inputMessages, first.framesSent, first.badInputMessages], [0, 0, 0], 'B counts from 0');
      const { receiver, answerSdp } = await StreamReceiver.connect({ offerSdp: offerB, codecs: ['H264'] });
      try {
        await b.acceptAnswer(answerSdp);
        await receiver.waitFor('B’s frames', () => receiver.video.framesComplete >= 3, 30_000);
        await receiver.channelOpen('input');
        assert.ok((await receiver.ping()) >= 0, 'A’s forging test hook went with A');
        assert.ok(
          statsB.every((stats) => stats.inputMessages === 0),
          'none of A’s input is counted by B',
        );
      } finally {
        await receiver.close();
      }
      assert.deepEqual(eventsB, [], 'nothing of A reached B');
      assert.equal(
        (turn.log().match(/ALLOCATE processed, success/g) ?? []).length,
        allocationsAfterA,
        'B allocated no relay with A’s credentials',
      );
    } finally {
      await b.close();
    }
  });
});
