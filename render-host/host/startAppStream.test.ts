/**
 * An external game through the real session path: SuperTux under its own Xvfb/PulseAudio, captured in a
 * session worker, encoded with libx264/Opus and sent by werift to an in-Node werift receiver. Also a "game"
 * that crashes, before and after its first frame. Bounded: every wait has a timeout; `after` closes all.
 * Skipped where SuperTux or the display helpers are not installed (`.ci/run` installs them).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { KeyInput, keyIdFromCode } from '../../signaling/protocol/index.js';
import {
  type AppManifest,
  BUILTIN_APP_MANIFESTS,
  checkAppAvailability,
  findSessionProcesses,
  parseAppManifest,
} from '../apps/index.js';
import { StreamSession } from '../session/index.js';
import { StreamReceiver } from '../session/testing/receiveStream.js';
import { type AppStream, startAppStream } from './startAppStream.js';

const log = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
const encoder = {
  prefer: 'x264',
  minBitrateBps: 500_000,
  startBitrateBps: 3_000_000,
  maxBitrateBps: 6_000_000,
} as const;
const supertux = BUILTIN_APP_MANIFESTS.find((manifest) => manifest.id === 'supertux') as AppManifest;
const [availability] = await checkAppAvailability({ catalogue: [supertux] });
const skip = availability?.runnable ? false : `SuperTux not runnable here: ${availability?.reason}`;
let nextId = 1;
const sessionId = () => `0x${(nextId++).toString(16).padStart(64, 'a')}`;

/** A "game" that is a shell script: draws nothing, so readiness is a fixed delay. */
function scriptGame(id: string, script: string): AppManifest {
  return parseAppManifest(
    {
      id,
      title: id,
      description: 'test workload',
      launch: { command: 'sh', args: ['-c', script] },
      width: 320,
      height: 240,
      fps: 30,
      inputMode: 'absolute',
      audio: false,
      readiness: { kind: 'delay', delayMs: 0 },
    },
    id,
  );
}

describe('startAppStream: external games through the session worker', { skip }, () => {
  let workRoot: string;
  before(async () => {
    workRoot = await mkdtemp(join(tmpdir(), 'ath-apps-host-'));
  });
  after(async () => {
    await rm(workRoot, { recursive: true, force: true });
  });

  test('SuperTux streams at 1280×720 with Opus, its first frame is the game, input reaches it, close leaves nothing', {
    timeout: 90_000,
  }, async () => {
    const crashes: string[] = [];
    const app: AppStream = await startAppStream({
      manifest: supertux,
      sessionId: sessionId(),
      log,
      workRoot,
      startStream: (capture, signal) =>
        StreamSession.start({ sessionId: 'x', game: supertux.id, codecs: ['H264'], encoder, log, capture, signal }),
      onCrash: (message) => crashes.push(message),
    });
    const marker = app.workload.marker;
    const sessionDir = app.workload.sessionDir;
    // The first offer follows right after the start: listen before awaiting anything else.
    const offered = new Promise<string>((resolve) => app.session.once('offer', resolve));
    let receiver: StreamReceiver | undefined;
    try {
      assert.ok((await findSessionProcesses(marker)).length >= 3, 'game, Xvfb and PulseAudio run');
      const offer = await offered;
      const connected = await StreamReceiver.connect({
        offerSdp: offer,
        codecs: ['H264'],
        decodeVideo: true,
        decodeAudio: true,
      });
      receiver = connected.receiver;
      await app.session.acceptAnswer(connected.answerSdp);
      const r = receiver;
      await r.waitFor('decoded frames', () => r.video.framesDecoded >= 30, 20_000);
      assert.equal(r.lastDecoded?.width, 1280);
      assert.equal(r.lastDecoded?.height, 720);
      // Input over the data channel: a frame mark shows the pipeline injected it before a grab.
      await r.channelOpen();
      const right = keyIdFromCode('ArrowRight') ?? 0;
      r.send(new KeyInput(1, right, true).serialize());
      await r.waitFor('a frame after the key', () => (r.lastMark?.inputSeq ?? 0) >= 1, 10_000);
      r.send(new KeyInput(2, right, false).serialize());
      await r.waitFor('Opus from the game', () => r.audio.packets >= 50 && r.audio.peakLevel > 0, 15_000);
      assert.deepEqual(crashes, []);
    } finally {
      await receiver?.close();
      await app.close('player-quit');
    }
    assert.deepEqual(await findSessionProcesses(marker), [], 'no process of the session is left');
    await assert.rejects(stat(sessionDir), 'the session directory (its home) is gone');
  });

  test('a game that dies before its first frame fails the start with ATH_ERR_GAME_CRASHED', {
    timeout: 60_000,
  }, async () => {
    const manifest = parseAppManifest(
      {
        ...scriptGame('quitter', 'exit 3'),
        readiness: { kind: 'non-black-frame', minLitPercent: 1, timeoutMs: 20_000 },
      },
      'quitter',
    );
    await assert.rejects(
      startAppStream({
        manifest,
        sessionId: sessionId(),
        log,
        workRoot,
        startStream: (capture, signal) =>
          StreamSession.start({ sessionId: 'y', game: manifest.id, codecs: ['H264'], encoder, log, capture, signal }),
        onCrash: () => assert.fail('not started, so no crash event'),
      }),
      { code: 'ATH_ERR_GAME_CRASHED' },
    );
  });

  test('a game that dies while streaming ends the session with a message naming the code', {
    timeout: 60_000,
  }, async () => {
    const manifest = scriptGame('crasher', 'sleep 8; exit 7');
    let crashed: (message: string) => void = () => {};
    const crash = new Promise<string>((resolve) => {
      crashed = resolve;
    });
    const app = await startAppStream({
      manifest,
      sessionId: sessionId(),
      log,
      workRoot,
      startStream: (capture, signal) =>
        StreamSession.start({ sessionId: 'z', game: manifest.id, codecs: ['H264'], encoder, log, capture, signal }),
      onCrash: (message) => crashed(message),
    });
    const marker = app.workload.marker;
    try {
      const message = await Promise.race([
        crash,
        new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no crash reported')), 15_000).unref()),
      ]);
      assert.match(message, /exited with code 7/);
      assert.match(message, /ATH_ERR_GAME_CRASHED/);
      assert.ok(app.session.closed, 'the stream is closed');
    } finally {
      await app.close('host-stopped');
    }
    assert.deepEqual(await findSessionProcesses(marker), []);
  });
});
