/**
 * `npm run bench:stream -- --relay`: what a TURN relay costs a stream, measured side by side. One stack beside a
 * real coturn on loopback (signaling issues each session credentials for it); the same measurement
 * (measureStream.ts: first frame, decoded fps, input→photon p50/p95) on the direct path, then with the player
 * relay-only (`?relay=1`: Chromium's `iceTransportPolicy: 'relay'`, so every packet goes through coturn). One JSON
 * line: both paths, the selected candidate pairs (the relayed run must really be relayed), the ratios, the targets
 * (relayed ≥ 58 fps at 720p60, ≤ +3 ms input→photon p50 on loopback) and the load average while it ran.
 */
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClient } from '../../client/index.js';
import { startStack } from '../../edge/index.js';
import { machineInfo, round } from '../../signaling/bench/machine.js';
import { startTestTurnServer } from '../../signaling/ice/testing/startTestTurnServer.js';
import { e2eConfig } from '../support/e2eConfig.js';
import { launchChromium } from '../support/launchChromium.js';
import { measureStream, type StreamMeasurement } from './measureStream.js';
import { stackProcessLabels } from './processCpu.js';

export type RunRelayBenchParameters = {
  seconds: number;
  codec: 'h264' | 'vp8';
  progress: (line: string) => void;
};

/** Relayed at 720p60 on loopback: at least this many decoded fps, and at most this much more input→photon p50. */
export const RELAY_TARGETS = { relayedFpsMin: 58, addedInputToPhotonMsP50Max: 3 } as const;

const loadNow = () => loadavg().map((value) => round(value, 2));

export async function runRelayBench({ seconds, codec, progress }: RunRelayBenchParameters): Promise<void> {
  const loadAtStart = loadNow();
  const turn = await startTestTurnServer();
  const dataDir = mkdtempSync(join(tmpdir(), 'ath-bench-relay-'));
  try {
    const { outDir } = await buildClient({});
    progress('starting the stack beside coturn');
    const stack = await startStack({
      config: e2eConfig(dataDir, { turn: { urls: [turn.urls.udp, turn.urls.tcp], secret: turn.secret } }),
      clientDir: outDir,
    });
    const host = stack.renderHosts[0];
    const browser = await launchChromium({ args: ['--autoplay-policy=no-user-gesture-required'] });
    try {
      const pid = host?.pid;
      if (!host || !pid) throw new Error('no render host');
      const measure = async (path: 'direct' | 'relayed'): Promise<StreamMeasurement & { loadAvg: number[] }> => {
        progress(`${path} path`);
        const result = await measureStream({
          browser,
          baseUrl: stack.signaling.info.httpUrl,
          host: { httpUrl: host.info.httpUrl, pid },
          query: `codec=${codec}${path === 'relayed' ? '&relay=1' : ''}`,
          seconds,
          progress: (line) => progress(`${path}: ${line}`),
          processLabels: stackProcessLabels(stack),
        });
        return { ...result, loadAvg: loadNow() };
      };
      const direct = await measure('direct');
      const relayed = await measure('relayed');
      const relayedForReal = relayed.route?.localCandidateType === 'relay';
      const directForReal = direct.route !== null && direct.route.localCandidateType !== 'relay';
      const ratio = (a: number, b: number) => (b > 0 ? round(a / b, 3) : null);
      const addedP50 = round(relayed.inputToPhotonMsP50 - direct.inputToPhotonMsP50, 1);
      console.log(
        JSON.stringify({
          bench: 'stream-relay',
          turn: { server: 'coturn (Debian turnserver) on loopback', urls: [turn.urls.udp, turn.urls.tcp] },
          direct,
          relayed,
          pathsConfirmed: { directNotRelayed: directForReal, relayedThroughTurn: relayedForReal },
          ratios: {
            fps: ratio(relayed.decodedFps, direct.decodedFps),
            inputToPhotonP50: ratio(relayed.inputToPhotonMsP50, direct.inputToPhotonMsP50),
            inputToPhotonP95: ratio(relayed.inputToPhotonMsP95, direct.inputToPhotonMsP95),
            firstFrameP50: ratio(relayed.firstFrameMsP50, direct.firstFrameMsP50),
          },
          addedInputToPhotonMsP50: addedP50,
          addedInputToPhotonMsP95: round(relayed.inputToPhotonMsP95 - direct.inputToPhotonMsP95, 1),
          targets: {
            ...RELAY_TARGETS,
            relayedFpsMet: relayed.decodedFps >= RELAY_TARGETS.relayedFpsMin,
            addedInputToPhotonMsP50Met: addedP50 <= RELAY_TARGETS.addedInputToPhotonMsP50Max,
          },
          loadAvgAtStart: loadAtStart,
          machine: machineInfo(),
        }),
      );
    } finally {
      await browser.close();
      await stack.close();
    }
  } finally {
    await turn.close();
  }
}
