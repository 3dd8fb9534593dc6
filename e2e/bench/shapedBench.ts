/**
 * `npm run bench:stream -- --shape 3mbit`: Neon Drift from a render-host session to Chromium over a link
 * shaped to that rate with 1 % loss (render-host/session/testing/runShapedStream.ts: two namespaces, a veth
 * pair; needs root): 8 s open, 20 s shaped, 15 s lifted. Reports the longest freeze (presented frames), fps,
 * received bitrate and the encoder's target per phase, and how long after the lift the stream was back at full
 * rate: `targetRecoverySec` (the host's encoder target back to 90 % of what it was on the open link, from its
 * stats) and `recoverySec` (the browser receiving, for a whole second, 80 % of the open link's bitrate at 80 %
 * of its frame rate — relative to the open phase, so a loaded machine's lower fps does not count as "not
 * recovered"). null = not within the lifted phase. The last line printed is one JSON object.
 */
import { runShapedStream } from '../../render-host/session/testing/runShapedStream.js';
import { machineInfo } from '../../signaling/bench/machine.js';

export async function runShapedBench(shapeArg: string): Promise<void> {
  const match = /^(\d+(?:\.\d+)?)(k|m)bit$/i.exec(shapeArg);
  if (!match) throw new Error(`--shape takes a rate like 3mbit or 800kbit, not ${shapeArg}`);
  const rateKbit = Math.round(Number(match[1]) * (match[2]?.toLowerCase() === 'm' ? 1000 : 1));
  const shape = { rateKbit, lossPct: 1, limitPackets: 100 };
  process.stderr.write(
    `bench:stream --shape ${shapeArg}: 8 s open, 20 s at ${rateKbit} kbit/s + 1 % loss, 15 s open\n`,
  );
  const { phases, hostStats } = await runShapedStream([
    { name: 'open', seconds: 8, shape: null },
    { name: 'shaped', seconds: 20, shape },
    { name: 'lifted', seconds: 15, shape: null },
  ]);
  const [open, shaped, lifted] = phases;
  if (!open || !shaped || !lifted) throw new Error('missing phases');
  const recovered = lifted.perSecond.findIndex(
    (s) => s.receivedBps >= 0.8 * open.receivedBps && s.frames >= 0.8 * open.fps,
  );
  const liftedAt = lifted.startedAtUnixMs;
  const fullTarget = 0.9 * open.targetBpsLast;
  const targetBack = hostStats.find(
    (h) => h.atMs >= liftedAt && h.atMs <= liftedAt + lifted.seconds * 1000 && h.stats.targetBitrateBps >= fullTarget,
  );
  // The encoder's target each second after the lift (the host's stats come once a second).
  const liftedTargetBps = hostStats
    .filter((h) => h.atMs >= liftedAt && h.atMs <= liftedAt + lifted.seconds * 1000)
    .map((h) => h.stats.targetBitrateBps);
  const strip = ({ perSecond: _, shape: __, startedAtUnixMs: ___, ...rest }: (typeof phases)[number]) => rest;
  console.log(
    JSON.stringify({
      bench: 'stream-shaped',
      shape,
      maxFreezeMsShaped: shaped.maxFreezeMs,
      recoverySec: recovered >= 0 ? recovered + 1 : null,
      targetRecoverySec: targetBack ? Math.round((targetBack.atMs - liftedAt) / 100) / 10 : null,
      recoveryTargetSec: 5,
      liftedTargetBps,
      open: strip(open),
      shaped: strip(shaped),
      lifted: strip(lifted),
      shapedPerSecond: shaped.perSecond,
      liftedPerSecond: lifted.perSecond,
      machine: machineInfo(),
    }),
  );
}
