/**
 * `npm run bench:stream` — the streaming slice, headless, measured from what Chromium decodes:
 *   firstFrameMsP50      Play click → first decoded frame presented (median of 3 fresh sessions)
 *   decodedFps           frames decoded per second over the run
 *   framesDroppedPct     frames the host's pacer dropped plus frames the browser dropped, over frames produced
 *   inputToPhotonMs*     key sent → presented frame the host's frame mark names as the first with that key
 *   serverCpuPctPerStream  the render host process (all threads) while streaming, % of one core
 *   cpu                  over the same window: CPU by process (% of one core: render host, Chromium by process type,
 *                        signaling, coturn, anvil…) and otherMachineCpuPct, what every other process on the machine
 *                        used (a figure taken beside another developer's build is not the stream's)
 *   hostDropped*         the host's drops by cause: encoder on the pool still busy at the next tick, or ticks its clock
 *                        missed (720p60 x264 encodes on the session's thread: its overruns are missed ticks)
 *   encodeMs*            the host's encoder, per frame
 * Flags: --seconds N (30), --codec h264|vp8; --startup runs the start-up bench instead (startupBench.ts: the
 * whole `npm start` stack, Play at once, fps in each of the first 5 seconds, CPU by process); --shape 3mbit runs
 * the congestion bench (shapedBench.ts: a link shaped to that rate with 1 % loss, then lifted); --relay runs the
 * same measurement on the direct path and through a TURN relay (relayBench.ts: coturn on loopback, the player
 * relay-only), both in one line with their ratios. The last line printed is one JSON object.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClient } from '../../client/index.js';
import { startStack } from '../../edge/index.js';
import { machineInfo } from '../../signaling/bench/machine.js';
import { e2eConfig } from '../support/e2eConfig.js';
import { launchChromium } from '../support/launchChromium.js';
import { measureStream } from './measureStream.js';
import { stackProcessLabels } from './processCpu.js';

function flag(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

if (process.argv.includes('--shape')) {
  const { runShapedBench } = await import('./shapedBench.js');
  await runShapedBench(process.argv[process.argv.indexOf('--shape') + 1] ?? '3mbit');
  process.exit(0);
}
if (process.argv.includes('--startup')) {
  const { runStartupBench } = await import('./startupBench.js');
  await runStartupBench();
  process.exit(0);
}

const SECONDS = Number(flag('seconds', '30'));
const CODEC = flag('codec', 'h264') === 'vp8' ? 'vp8' : 'h264';
const progress = (line: string) => process.stderr.write(`bench:stream ${line}\n`);

if (process.argv.includes('--relay')) {
  const { runRelayBench } = await import('./relayBench.js');
  await runRelayBench({ seconds: SECONDS, codec: CODEC, progress });
  process.exit(0);
}

const dataDir = mkdtempSync(join(tmpdir(), 'ath-bench-stream-'));
const { outDir } = await buildClient({});
progress('starting the stack');
const stack = await startStack({ config: e2eConfig(dataDir), clientDir: outDir });
const host = stack.renderHosts[0];
if (!host?.pid) throw new Error('no render host');
const browser = await launchChromium({ args: ['--autoplay-policy=no-user-gesture-required'] });

try {
  const {
    firstFramesMs: _,
    route: __,
    ...measured
  } = await measureStream({
    browser,
    baseUrl: stack.signaling.info.httpUrl,
    host: { httpUrl: host.info.httpUrl, pid: host.pid },
    query: `codec=${CODEC}`,
    seconds: SECONDS,
    progress,
    processLabels: stackProcessLabels(stack),
  });
  console.log(JSON.stringify({ bench: 'stream', ...measured, machine: machineInfo() }));
} finally {
  await browser.close();
  await stack.close();
}
process.exit(0);
