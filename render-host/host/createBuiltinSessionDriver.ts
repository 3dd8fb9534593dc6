/**
 * Runs a session of a built-in game (render-host/games) through the media pipeline (render-host/session):
 * adapts a `StreamSession` to the host's `SessionDriver`, feeds this host's metrics from its stats, and turns
 * its stats into the delivery reports signaling meters and checks.
 *
 * With `apps`, sessions of those external games (render-host/apps) run the same way, their workload around
 * them: display, audio server, home and the game's process group start at the lease (see startAppStream), the
 * worker streams the captured display through the same encoders and peer, and the workload ends with the
 * session — or ends it, with `game-crashed`, when the game dies.
 */
import type { Logger } from 'pino';
import type { Metrics, RenderHostMetricKey } from '../../metrics/index.js';
import { type IceServerRecord, VIDEO_RUNGS } from '../../signaling/protocol/index.js';
import type { AppManifest, DisplayRange } from '../apps/index.js';
import {
  type EncoderSettings,
  type IceOptions,
  type SessionWorkerPool,
  StreamSession,
  type StreamStats,
  type TestHookSwitch,
} from '../session/index.js';
import type { SessionDriverFactory } from './SessionDriver.js';
import { startAppStream } from './startAppStream.js';

/** How often a live session tells signaling what it delivered. */
export const HOST_REPORT_INTERVAL_MS = 5_000;

export type CreateBuiltinSessionDriverParameters = {
  encoder: EncoderSettings;
  /** This host's NAT settings (public address, port range, announced kinds) and its own STUN servers. */
  ice?: IceOptions;
  metrics: Metrics<RenderHostMetricKey>;
  log: Logger;
  /** How long a session's game outlives its player's connection; signaling decides when it really ends. */
  reconnectGraceMs?: number;
  /** Booted workers waiting for sessions: a pooled start offers in ≈0.1 s instead of ≈1 s. */
  pool?: SessionWorkerPool;
  /** Tests only: degrade every session on purpose, live ones included (see render-host/session/TestHooks.ts). */
  testHooks?: TestHookSwitch;
  /**
   * SCHED_RR priority of each built-in game session's thread while it streams (StreamSession `realtimePriority`;
   * the game renders on that thread); 0: off. External games' sessions keep normal scheduling.
   */
  realtimePriority?: number;
  /** External games this host serves (their ids are in the host's game list), and where their sessions live. */
  apps?: { catalogue: readonly AppManifest[]; workRoot?: string; displayRange?: DisplayRange };
};

export function createBuiltinSessionDriver({
  encoder,
  ice = {},
  metrics,
  log,
  reconnectGraceMs = 35_000,
  pool,
  testHooks,
  realtimePriority = 0,
  apps,
}: CreateBuiltinSessionDriverParameters): SessionDriverFactory {
  const live = new Map<string, StreamStats>();
  const updateGauges = () => {
    let fps = 0;
    let bitrate = 0;
    let worstLoss = 0;
    for (const stats of live.values()) {
      fps += stats.fps;
      bitrate += stats.bitrateBps;
      worstLoss = Math.max(worstLoss, stats.lossFraction ?? 0);
    }
    metrics.metric.streamFramesPerSecond.set(live.size ? fps / live.size : 0);
    metrics.metric.streamBitrate.set(bitrate / 8);
    metrics.metric.streamPacketLoss.set(worstLoss);
  };

  return async ({ sessionId, game, codecs, quality, iceServers = [], events }) => {
    // A built-in game at the player's rung; `auto` (and `medium`, the same) keeps the host's own settings.
    const rung = quality && quality !== 'auto' && quality !== 'medium' ? VIDEO_RUNGS[quality] : undefined;
    const streamParams = {
      sessionId,
      game: game.id,
      codecs,
      encoder: rung
        ? {
            ...encoder,
            startBitrateBps: Math.max(encoder.minBitrateBps, rung.startBitrateBps),
            maxBitrateBps: Math.max(encoder.minBitrateBps, rung.maxBitrateBps),
          }
        : encoder,
      ...(rung ? { video: { width: rung.width, height: rung.height, fps: rung.fps } } : {}),
      ice: withSessionIceServers(ice, iceServers),
      reconnectGraceMs,
      log,
      ...(pool ? { pool } : {}),
      ...(testHooks ? { testHooks: testHooks.current } : {}),
    };
    const manifest = apps?.catalogue.find((candidate) => candidate.id === game.id);
    const app = manifest
      ? await startAppStream({
          manifest,
          sessionId,
          log,
          ...(apps?.workRoot ? { workRoot: apps.workRoot } : {}),
          ...(apps?.displayRange ? { displayRange: apps.displayRange } : {}),
          startStream: (capture, signal) => StreamSession.start({ ...streamParams, capture, signal }),
          onCrash: (message) => {
            live.delete(sessionId);
            updateGauges();
            events.ended('game-crashed', message);
          },
        })
      : undefined;
    // Only a built-in game's thread is raised (it renders the game): an external game renders in its own
    // processes at normal priority, and a capture thread ranked above them would take the CPU the game needs for
    // the frames it captures (two SuperTux sessions on 2 cores: the game tests took 2–3× as long).
    const session = app?.session ?? (await StreamSession.start({ ...streamParams, realtimePriority }));
    let previous: StreamStats | undefined;
    let lastReportMs = Date.now();
    session.on('offer', (sdp) => events.offer(sdp));
    session.on('ice', (candidate) => events.ice(candidate));
    session.on('connected', () => events.connected());
    const offTestHooks = testHooks?.onChange((hooks) => session.setTestHooks(hooks));
    session.on('ended', (reason, message) => {
      offTestHooks?.();
      live.delete(sessionId);
      updateGauges();
      // The stream ended on its own (player gone, connect timeout): the game goes with it, before the slot frees.
      if (app) void app.close(reason).then(() => events.ended(reason, message));
      else events.ended(reason, message);
    });
    session.on('stats', (stats) => {
      const codec = stats.codec === 'none' ? 'none' : stats.codec;
      const delta = (now: number, before: number | undefined) => Math.max(0, now - (before ?? 0));
      metrics.metric.streamFramesSent.inc({ codec }, delta(stats.framesSent, previous?.framesSent));
      metrics.metric.streamFramesDropped.inc(delta(stats.framesDropped, previous?.framesDropped));
      metrics.metric.streamPli.inc(delta(stats.pliCount, previous?.pliCount));
      metrics.metric.streamNack.inc(delta(stats.nackCount, previous?.nackCount));
      // One observation per encoded frame (the worker sends each frame's time with its stats).
      const encoderLabel = stats.codec === 'VP8' ? 'vp8' : stats.encoder.includes('nvenc') ? 'nvenc' : 'x264';
      for (const ms of stats.windowEncodeMs)
        metrics.metric.encoderFrameSeconds.observe({ encoder: encoderLabel }, ms / 1000);
      previous = stats;
      live.set(sessionId, stats);
      updateGauges();
      if (Date.now() - lastReportMs >= HOST_REPORT_INTERVAL_MS) {
        lastReportMs = Date.now();
        events.report({
          fpsMilli: Math.round(stats.fps * 1000),
          framesSent: stats.framesSent,
          bitrateBps: stats.bitrateBps,
          inputIdleMs: stats.inputIdleMs,
        });
      }
    });
    return {
      acceptAnswer: (sdp) => session.acceptAnswer(sdp),
      addIceCandidate: (candidate) => session.addIceCandidate(candidate),
      relayInput: (bytes) => session.relayInput(bytes),
      restartTransport: (nextCodecs, nextServers) =>
        session.restartTransport(nextCodecs, nextServers ? withSessionIceServers(ice, nextServers) : undefined),
      stats: () => {
        const stats = session.lastStats;
        if (!stats) return undefined;
        return {
          fps: stats.fps,
          framesSent: stats.framesSent,
          framesDropped: stats.framesDropped,
          framesDroppedEncoderBusy: stats.framesDroppedEncoderBusy,
          encodeMsP50: stats.encodeMsP50,
          encodeMsP95: stats.encodeMsP95,
          encoder: stats.encoder,
          codec: stats.codec,
          width: stats.width,
          height: stats.height,
          bitrateBps: stats.bitrateBps,
          ...(stats.rttMs === undefined ? {} : { rttMs: stats.rttMs }),
          inputIdleMs: stats.inputIdleMs,
        };
      },
      close: async (reason) => {
        offTestHooks?.();
        live.delete(sessionId);
        updateGauges();
        if (app) await app.close(reason);
        else await session.close(reason);
      },
    };
  };
}

/** The host's ICE settings with the session's servers first (signaling's TURN, with this session's credentials). */
export function withSessionIceServers(ice: IceOptions, sessionServers: readonly IceServerRecord[]): IceOptions {
  const iceServers = [...sessionServers, ...(ice.iceServers ?? [])];
  return { ...ice, ...(iceServers.length > 0 ? { iceServers } : {}) };
}
