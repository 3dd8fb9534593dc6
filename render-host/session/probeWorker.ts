/**
 * The worker thread that serves checkers' probe streams (started by ProbeStreams). One worker for all of a
 * host's probes, apart from the players' session workers: a probe never competes with a game session for its
 * thread, and three checkers a round cost one module load (≈1 s), not three. Each probe is a SessionPipeline
 * over a 320×180 test card (TestCardSource) at the host's frame rate and a low bitrate: the same peer, data
 * channels, ping echo and pacing as a player's session, so a checker measures the path players get.
 */
import { parentPort } from 'node:worker_threads';
import { type Logger, pino } from 'pino';
import { AthError } from '../../signaling/protocol/index.js';
import { RenderHostErrorCode } from '../errors.js';
import { type ProbeCommand, type ProbeEvent, type ProbeWorkerInit, parseProbeCommand } from './probeWorkerMessages.js';
import { SessionPipeline } from './SessionPipeline.js';
import { TestCardSource } from './TestCardSource.js';
import type { TestHooks } from './TestHooks.js';

const port = parentPort;
if (!port) throw new Error('probeWorker.ts must run in a worker thread');

function post(event: ProbeEvent): void {
  port?.postMessage(event);
}

type Worker = { init: ProbeWorkerInit; log: Logger; hooks: TestHooks; probes: Map<string, SessionPipeline> };

function startWorker(init: ProbeWorkerInit): Worker {
  const log = pino(
    { level: init.logLevel, base: undefined, timestamp: false },
    { write: (line: string) => post({ type: 'log', line: line.length > 65536 ? line.slice(0, 65536) : line }) },
  );
  const worker: Worker = { init, log, hooks: { ...init.testHooks }, probes: new Map() };
  // A failure nobody caught ends every probe (each is reported), never the thread under running FFmpeg work:
  // that would abort the whole process (see sessionWorker.ts). The host starts a fresh worker next time.
  const fail = (error: unknown) => {
    log.fatal({ err: error }, 'probe worker failed');
    for (const [probeId, pipeline] of worker.probes) {
      worker.probes.delete(probeId);
      post({ type: 'ended', probeId, reason: 'error', message: 'The probe stream failed.' });
      void pipeline.close().catch(() => undefined);
    }
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  return worker;
}

function pipelineOf(worker: Worker, probeId: string): SessionPipeline {
  const pipeline = worker.probes.get(probeId);
  if (!pipeline) throw new AthError({ code: RenderHostErrorCode.sessionClosed, shortMessage: 'no such probe' });
  return pipeline;
}

async function run(worker: Worker, command: ProbeCommand): Promise<void> {
  switch (command.type) {
    case 'init':
      throw new Error('init twice');
    case 'start': {
      if (worker.probes.has(command.probeId))
        throw new AthError({ code: 'ATH_ERR_BAD_MESSAGE', shortMessage: 'probe exists' });
      const { init } = worker;
      const probeId = command.probeId;
      const log = worker.log.child({ probeId: probeId.slice(0, 10) });
      const pipeline = new SessionPipeline({
        source: new TestCardSource({ width: init.width, height: init.height, fps: init.fps }),
        encoder: init.encoder,
        audioBitrateBps: 16_000,
        avSync: false,
        ice: { ...init.ice, iceServers: [...(command.iceServers ?? []), ...(init.ice.iceServers ?? [])] },
        statsIntervalMs: init.statsIntervalMs,
        connectTimeoutMs: init.connectTimeoutMs,
        // A checker that goes away is done: no grace, the probe ends at once.
        reconnectGraceMs: 0,
        testHooks: worker.hooks,
        log,
        events: {
          offer: (sdp) => post({ type: 'offer', probeId, sdp }),
          ice: (candidate) => post({ type: 'ice', probeId, candidate }),
          connected: () => post({ type: 'connected', probeId }),
          stats: (stats) => post({ type: 'stats', probeId, stats }),
          ended: (reason, message) => {
            if (worker.probes.get(probeId) !== pipeline) return;
            worker.probes.delete(probeId);
            post({ type: 'ended', probeId, reason, message });
          },
        },
      });
      worker.probes.set(probeId, pipeline);
      try {
        await pipeline.negotiate(command.codecs);
      } catch (error) {
        worker.probes.delete(probeId);
        await pipeline.close().catch(() => undefined);
        throw error;
      }
      post({ type: 'reply', id: command.id, ok: true });
      return;
    }
    case 'answer':
      await pipelineOf(worker, command.probeId).acceptAnswer(command.sdp);
      post({ type: 'reply', id: command.id, ok: true });
      return;
    case 'ice':
      await pipelineOf(worker, command.probeId).addIceCandidate(command.candidate);
      post({ type: 'reply', id: command.id, ok: true });
      return;
    case 'stop': {
      const pipeline = worker.probes.get(command.probeId);
      worker.probes.delete(command.probeId);
      await pipeline?.close();
      post({ type: 'reply', id: command.id, ok: true });
      return;
    }
    case 'test-hooks':
      worker.hooks = { ...command.hooks };
      worker.log.warn({ hooks: command.hooks }, 'test hooks set: probe streams are degraded on purpose');
      for (const pipeline of worker.probes.values()) pipeline.setTestHooks(command.hooks);
      post({ type: 'reply', id: command.id, ok: true });
      return;
  }
}

let worker: Worker | undefined;

port.on('message', (data: unknown) => {
  let command: ProbeCommand;
  try {
    command = parseProbeCommand(data);
  } catch (error) {
    if (!worker) throw error;
    worker.log.error({ err: error }, 'invalid command from the main thread');
    return;
  }
  if (!worker) {
    if (command.type !== 'init') throw new Error(`${command.type} before init`);
    worker = startWorker(command.init);
    post({ type: 'ready' });
    return;
  }
  const current = worker;
  run(current, command).catch((error: unknown) => {
    const failure = SessionPipeline.toReplyError(error);
    current.log.debug({ err: failure, command: command.type }, 'probe command failed');
    if ('id' in command) {
      post({ type: 'reply', id: command.id, ok: false, code: failure.code, message: failure.message.slice(0, 2048) });
    }
  });
});
