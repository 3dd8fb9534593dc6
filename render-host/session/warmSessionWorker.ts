/**
 * A pooled session worker's warm-up, run while it waits for a session: everything a newcomer's first second
 * runs through, run once here on a throwaway session so that the real one runs it warm.
 *
 * A session worker is a fresh V8 isolate: the first time it renders, encodes, gathers ICE, answers checks,
 * does a DTLS handshake (P-256 / X25519 in JavaScript: the first P-256 key alone took 140 ms here), starts SCTP
 * and SRTP, all of that code runs cold, and werift builds its DTLS certificate (one per thread, then reused).
 * `render-host/session/testing/setupTimeline.ts` (Chromium answering, load 10–12 on this 2-core machine), cold
 * workers against warmed ones, medians of 3 runs: start → offer 470–580 vs 130–250 ms, start → first frame in
 * the page 1.3–1.5 s vs 0.7–0.8 s.
 *
 * So the worker streams a second of a built-in game to itself — a SessionPeer offering to a receive-only
 * werift peer over the host's own interface, the real DTLS handshake and SRTP included — and closes it all.
 * Best effort: a warm-up that fails or takes too long is logged and forgotten; the session then starts cold,
 * as before. Nothing of it is shared with a session but werift's per-thread certificate, which is what every
 * session of the thread used anyway.
 */
import type { Logger } from 'pino';
import { RTCPeerConnection } from 'werift';
import { BUILTIN_GAMES, createGameRuntime } from '../games/index.js';
import { AudioEncoder, OPUS_CHANNELS, OPUS_FRAME_SAMPLES } from './AudioEncoder.js';
import { GameMediaSource } from './GameMediaSource.js';
import { markNativeInUse, markNativeReleased } from './nativeWork.js';
import { SessionPeer } from './SessionPeer.js';
import { openVideoEncoder } from './VideoEncoder.js';
import { basePeerConfig } from './webrtcConfig.js';

export type WarmSessionWorkerParameters = {
  /** Set once the worker got its session: the warm-up stops at the next step. */
  signal: AbortSignal;
  log: Logger;
  /** Gives up after this long (the session would wait for it). Default 5 s. */
  timeoutMs?: number;
};

export type WarmSessionWorkerReturnType = {
  /** ms per step that ran (`render`, `encode`, `connect`, `media`). */
  stepsMs: Record<string, number>;
  completed: boolean;
};

const DEFAULT_TIMEOUT_MS = 5_000;
/** Frames streamed after the first (a second's worth at 60 fps). */
const MEDIA_FRAMES = 60;
const PEER_CLOSE_WAIT_MS = 1_000;

/** Runs the warm-up; never rejects. The worker's native state is released again when it resolves. */
export async function warmSessionWorker({
  signal,
  log,
  timeoutMs = DEFAULT_TIMEOUT_MS,
}: WarmSessionWorkerParameters): Promise<WarmSessionWorkerReturnType> {
  const stepsMs: Record<string, number> = {};
  let stepStart = performance.now();
  const check = () => {
    if (signal.aborted) throw new Error('the worker got its session');
  };
  const step = (name: string) => {
    const now = performance.now();
    stepsMs[name] = Math.round(now - stepStart);
    stepStart = now;
    check();
  };
  const game = BUILTIN_GAMES[0];
  if (!game) return { stepsMs, completed: false };
  let creating: Promise<SessionPeer> | undefined;
  let receiver: RTCPeerConnection | undefined;
  const encoders: Array<{ close(): Promise<void> }> = [];
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('warm-up timed out')), timeoutMs);
  });
  timedOut.catch(() => undefined);
  /** Rendering and encoding run to their end (bounded, native); the waits on werift are raced with the timeout. */
  const within = <T>(promise: Promise<T>): Promise<T> => Promise.race([promise, timedOut]);
  // From the first encoder open until they are all closed, this worker holds FFmpeg objects (nativeWork.ts).
  markNativeInUse();
  try {
    const source = new GameMediaSource(createGameRuntime({ game: game.id, seed: 1 }));
    source.tick();
    const first = source.captureVideo();
    step('render');
    const { width, height, fps } = source;
    // libx264 whatever the host prefers: NVENC (where there is one) has little code to warm.
    const { encoder } = openVideoEncoder({ codec: 'H264', width, height, fps, bitrateBps: 4_000_000, prefer: 'x264' });
    encoders.push(encoder);
    const keyframe = await encoder.encode({ pixels: first.pixels, layout: first.layout, pts90k: 0, keyframe: true });
    check();
    const audio = source.hasAudio ? AudioEncoder.open({ bitrateBps: 96_000 }) : undefined;
    if (audio) encoders.push(audio);
    const pcm = new Int16Array(OPUS_FRAME_SAMPLES * OPUS_CHANNELS);
    step('encode');
    const quiet = log.child({ warmUp: true }, { level: 'silent' });
    // Every wait on werift is bounded; what it opens is closed in `finally`, even when it opened it late.
    creating = SessionPeer.create({ codecs: ['H264'], format: { width, height, fps }, avSync: true, log: quiet });
    const sender = await within(creating);
    const answerer = new RTCPeerConnection(basePeerConfig(['H264']));
    receiver = answerer;
    const gotVideo = new Promise<void>((resolve) => {
      answerer.onTrack.subscribe((track) => {
        if (track.kind === 'video') track.onReceiveRtp.once(() => resolve());
      });
    });
    const connected = new Promise<void>((resolve) => sender.once('connected', () => resolve()));
    await within(answerer.setRemoteDescription({ type: 'offer', sdp: sender.takeOffer() }));
    await within(answerer.createAnswer().then((answer) => answerer.setLocalDescription(answer)));
    await within(sender.acceptAnswer(answerer.localDescription?.sdp ?? ''));
    await within(connected);
    step('connect');
    if (keyframe) sender.sendVideo(keyframe.data, 0);
    await within(gotVideo);
    // A first second's worth of frames through the session's whole per-frame path — render, colour conversion,
    // encode, packetize, SRTP, send, Opus — as fast as it goes: two frames left that code cold (interpreted), and
    // a newcomer's first second on a fresh worker dropped 10–20 frames to it (the host's 'first second
    // streamed' line) while a worker that had served a session dropped none.
    for (let index = 1; index <= MEDIA_FRAMES; index++) {
      source.tick();
      const { pixels, layout } = source.captureVideo();
      const pts90k = index * (90_000 / fps);
      const out = await encoder.encode({ pixels, layout, pts90k, keyframe: false });
      if (out) sender.sendVideo(out.data, pts90k);
      if (audio && index % 3 === 0) {
        source.readAudio(pcm, index * OPUS_FRAME_SAMPLES);
        for (const packet of await audio.encode(pcm, index * OPUS_FRAME_SAMPLES)) sender.sendAudio(packet, 0);
      }
      // The event loop runs between frames (RTCP, the receiver, a session arriving: `signal`).
      await new Promise((resolve) => setImmediate(resolve));
      check();
    }
    step('media');
    return { stepsMs, completed: true };
  } catch (error) {
    log.debug({ err: error, stepsMs }, 'session worker warm-up stopped');
    return { stepsMs, completed: false };
  } finally {
    clearTimeout(timer);
    // A session waits for this: werift's close gets a bounded wait (its sockets close in the background).
    const peersClosed = Promise.allSettled([creating?.then((peer) => peer.close()), receiver?.close()]);
    await Promise.race([peersClosed, new Promise((resolve) => setTimeout(resolve, PEER_CLOSE_WAIT_MS))]);
    // Encoders close once their in-flight work is done (never abandoned: nativeWork.ts).
    await Promise.allSettled(encoders.map((encoder) => encoder.close()));
    markNativeReleased();
  }
}
