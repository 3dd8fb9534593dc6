/**
 * `npm run bench:apps`: plays each runnable catalogue game (SuperTux here; the 3D games only where the host
 * can run them) the way a session does — grab at each 60 Hz tick, libx264 with the session's
 * recipe (ultrafast/zerolatency, baseline; ticks the loop is late for are skipped and counted as dropped, as
 * the session's frame clock does; an encoder on the pool gets ≤ ⅓ period when busy) — with Right held
 * after the first second so the level scrolls. Prints progress, then as its LAST line one JSON object:
 *
 *   {"bench":"apps","games":[{"id","fps","captureMsP50","encodeMsP50","cpuPct","firstFrameMs",…}],
 *    "skipped":[{"id","reason"}],"machine":{"cores","cpuModel"}}
 *
 * fps: frames captured and encoded per second; distinctFps: of those, frames that differ from the previous
 * one (the game's own rate, as far as the capture sees it); cpuPct: the whole session — game, Xvfb, PulseAudio,
 * capture and encoder — in percent of one core; firstFrameMs: from start to the first frame worth showing.
 * Flags: `--seconds N` (default 10), `--games id,id` (default: every runnable catalogue game).
 */
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { KeyInput, keyIdFromCode } from '../../signaling/protocol/index.js';
import { openVideoEncoder } from '../session/VideoEncoder.js';
import { AppSession } from './AppSession.js';
import { checkAppAvailability } from './checkAppAvailability.js';
import { loadAppCatalogue } from './loadAppCatalogue.js';
import { findSessionProcesses } from './reapStaleAppSessions.js';

type GameResult = {
  id: string;
  fps: number;
  distinctFps: number;
  captureMsP50: number;
  captureMsP95: number;
  encodeMsP50: number;
  cpuPct: number;
  cpuPctGame: number;
  firstFrameMs: number;
  width: number;
  height: number;
  framesDropped: number;
  audioPeak: number;
};

const CLOCK_TICKS_PER_SEC = 100;

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** utime + stime of these processes, in seconds (processes that ended meanwhile are not counted). */
async function cpuSeconds(pids: readonly number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / CLOCK_TICKS_PER_SEC;
}

/** A cheap fingerprint of a frame (sampled pixels) to count distinct pictures. */
function fingerprint(pixels: Uint8Array): number {
  let hash = 2166136261;
  for (let i = 0; i < pixels.length; i += 4 * 61) {
    hash ^= (pixels[i] ?? 0) | ((pixels[i + 1] ?? 0) << 8) | ((pixels[i + 2] ?? 0) << 16);
    hash = Math.imul(hash, 16777619);
  }
  return hash >>> 0;
}

async function benchGame(id: string, seconds: number): Promise<GameResult> {
  const catalogue = await loadAppCatalogue();
  const manifest = catalogue.find((candidate) => candidate.id === id);
  if (!manifest) throw new Error(`no game ${id}`);
  const log = pino({ level: 'warn' });
  const session = await AppSession.start({ manifest, sessionId: `bench-${id}`, log });
  const { encoder } = openVideoEncoder({
    codec: 'H264',
    width: manifest.width,
    height: manifest.height,
    fps: manifest.fps,
    bitrateBps: 4_000_000,
    prefer: 'x264',
  });
  try {
    const right = keyIdFromCode('ArrowRight') ?? 53;
    const periodMs = 1000 / manifest.fps;
    const sessionPids = (await findSessionProcesses(session.workload.marker)).map((p) => p.pid);
    const gameCpu0 = await cpuSeconds(sessionPids);
    const ownCpu0 = process.cpuUsage();
    const started = performance.now();
    const encodeMs: number[] = [];
    let encoded = 0;
    let dropped = 0;
    let distinct = 0;
    let previous = -1;
    let inFlight: Promise<void> = Promise.resolve();
    let seq = 0;
    let holding = false;
    for (let tick = 0; ; tick++) {
      // As the session's clock (FramePacer): ticks already past are skipped, one frame for the newest.
      const overdue = Math.floor((performance.now() - started) / periodMs);
      if (overdue > tick) {
        dropped += overdue - tick;
        tick = overdue;
      }
      const due = started + tick * periodMs;
      const now = performance.now();
      if (now - started >= seconds * 1000) break;
      if (due > now) await sleep(due - now);
      if (!holding && performance.now() - started > 1000) {
        holding = true;
        session.source.applyInput(new KeyInput(++seq, right, true));
      }
      const frame = session.source.captureVideo(encoder.inputBuffer);
      const print = fingerprint(frame.pixels);
      if (print !== previous) distinct += 1;
      previous = print;
      if (encoder.busy) {
        // As the session does: a frame waits at most a third of a period for the encoder, then is dropped.
        await Promise.race([inFlight, sleep(periodMs / 3)]);
        if (encoder.busy) {
          dropped += 1;
          continue;
        }
      }
      inFlight = encoder
        .encode({
          pixels: frame.pixels,
          layout: frame.layout,
          pts90k: tick * (90_000 / manifest.fps),
          keyframe: tick === 0,
        })
        .then((result) => {
          if (!result) return;
          encoded += 1;
          encodeMs.push(result.encodeMs);
        });
    }
    await inFlight;
    const elapsedSec = (performance.now() - started) / 1000;
    const own = process.cpuUsage(ownCpu0);
    const gameCpu = (await cpuSeconds(sessionPids)) - gameCpu0;
    session.source.applyInput(new KeyInput(++seq, right, false));
    const stats = session.source.stats();
    return {
      id,
      fps: round(encoded / elapsedSec),
      distinctFps: round(distinct / elapsedSec),
      captureMsP50: round(stats.capture.captureMsP50, 2),
      captureMsP95: round(stats.capture.captureMsP95, 2),
      encodeMsP50: round(percentile(encodeMs, 0.5), 2),
      cpuPct: round(((gameCpu + (own.user + own.system) / 1e6) / elapsedSec) * 100),
      cpuPctGame: round((gameCpu / elapsedSec) * 100),
      firstFrameMs: session.firstFrameMs,
      width: manifest.width,
      height: manifest.height,
      framesDropped: dropped,
      audioPeak: stats.audio?.peak ?? 0,
    };
  } finally {
    await encoder.close();
    await session.close();
  }
}

function flag(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<void> {
  const seconds = Number(flag('seconds') ?? 10);
  const wanted = flag('games')?.split(',').filter(Boolean);
  const catalogue = await loadAppCatalogue();
  const availability = await checkAppAvailability({ catalogue });
  const games: GameResult[] = [];
  const skipped: { id: string; reason: string }[] = [];
  for (const entry of availability) {
    if (wanted && !wanted.includes(entry.id)) continue;
    if (!entry.runnable) {
      skipped.push({ id: entry.id, reason: entry.reason ?? 'not runnable' });
      console.log(`skip ${entry.id}: ${entry.reason}`);
      continue;
    }
    console.log(`bench ${entry.id}: ${seconds} s…`);
    const result = await benchGame(entry.id, seconds);
    console.log(`  ${JSON.stringify(result)}`);
    games.push(result);
  }
  const machine = { cores: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown' };
  console.log(JSON.stringify({ bench: 'apps', games, skipped, machine }));
}

await main();
