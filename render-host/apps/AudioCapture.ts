/**
 * The game's sound: `parec` records the session's null-sink monitor as raw 48 kHz stereo s16le (node-av's
 * FFmpeg has no PulseAudio input), into a small ring the session's 20 ms audio clock drains. The ring keeps
 * at most `maxLatencyMs` of sound (older samples are dropped: latency stays bounded); a read that finds less
 * than a whole chunk plays silence and lets the ring refill, rather than a chunk with a hole in it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { AthError } from '../../signaling/protocol/index.js';
import { APP_PATH } from './checkAppAvailability.js';
import { AppsErrorCode } from './errors.js';

export const CAPTURE_SAMPLE_RATE = 48_000;
export const CAPTURE_CHANNELS = 2;

export type StartAudioCaptureParameters = {
  pulseServer: string;
  /** The PulseAudio source to record: the null sink's monitor. */
  source: string;
  env?: Record<string, string>;
  maxLatencyMs?: number;
  log: Logger;
};

export type AudioCaptureStats = {
  /** Samples per channel received from the server. */
  framesReceived: number;
  /** Samples per channel dropped because the ring held more than the latency bound. */
  framesDropped: number;
  /** Reads answered with silence because less than a chunk had arrived. */
  underruns: number;
  /** Largest absolute sample value seen so far (0 = only silence). */
  peak: number;
  running: boolean;
};

export class AudioCapture {
  readonly #child: ChildProcess;
  readonly #log: Logger;
  readonly #ring: Int16Array;
  readonly #maxBuffered: number;
  #readIndex = 0;
  #buffered = 0;
  #carry: Buffer | undefined;
  #framesReceived = 0;
  #framesDropped = 0;
  #underruns = 0;
  #peak = 0;
  #running = true;
  #closed = false;
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess, maxLatencyMs: number, log: Logger) {
    this.#child = child;
    this.#log = log;
    this.#maxBuffered = Math.round((CAPTURE_SAMPLE_RATE * maxLatencyMs) / 1000) * CAPTURE_CHANNELS;
    this.#ring = new Int16Array(this.#maxBuffered * 2);
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.stdout?.on('data', (chunk: Buffer) => this.#onData(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.#log.debug({ stderr: chunk.toString().trim() }, 'parec'));
    child.once('exit', (code, signal) => {
      this.#running = false;
      if (!this.#closed) this.#log.warn({ code, signal }, 'audio capture stopped');
    });
  }

  /** Starts recording; resolves once parec runs (its first bytes may take a moment: a silent game sends zeros). */
  static async start({
    pulseServer,
    source,
    env = {},
    maxLatencyMs = 80,
    log,
  }: StartAudioCaptureParameters): Promise<AudioCapture> {
    const child = spawn(
      'parec',
      [
        `--device=${source}`,
        '--raw',
        '--format=s16le',
        `--rate=${CAPTURE_SAMPLE_RATE}`,
        `--channels=${CAPTURE_CHANNELS}`,
        '--latency-msec=10',
        '--client-name=ath-edge-capture',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: APP_PATH, PULSE_SERVER: pulseServer, ...env } },
    );
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) =>
        reject(new AthError({ code: AppsErrorCode.audioCapture, shortMessage: 'cannot start parec', cause: error })),
      );
    });
    return new AudioCapture(child, maxLatencyMs, log);
  }

  #onData(chunk: Buffer): void {
    let bytes = chunk;
    if (this.#carry) {
      bytes = Buffer.concat([this.#carry, chunk]);
      this.#carry = undefined;
    }
    const whole = bytes.length - (bytes.length % 2);
    if (whole < bytes.length) this.#carry = Buffer.from(bytes.subarray(whole));
    const samples = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + whole));
    const capacity = this.#ring.length;
    for (let i = 0; i < samples.length; i++) {
      const value = samples[i] ?? 0;
      const magnitude = value < 0 ? -value : value;
      if (magnitude > this.#peak) this.#peak = magnitude;
      this.#ring[(this.#readIndex + this.#buffered) % capacity] = value;
      if (this.#buffered < capacity) this.#buffered += 1;
      else this.#readIndex = (this.#readIndex + 1) % capacity;
    }
    this.#framesReceived += samples.length / CAPTURE_CHANNELS;
    if (this.#buffered > this.#maxBuffered) {
      const excess = this.#buffered - this.#maxBuffered;
      const drop = excess - (excess % CAPTURE_CHANNELS);
      this.#readIndex = (this.#readIndex + drop) % capacity;
      this.#buffered -= drop;
      this.#framesDropped += drop / CAPTURE_CHANNELS;
    }
  }

  /** Fills `out` (interleaved stereo s16) with the oldest buffered sound, or silence when not enough arrived. */
  read(out: Int16Array): void {
    if (this.#buffered < out.length) {
      out.fill(0);
      if (this.#running && !this.#closed) this.#underruns += 1;
      return;
    }
    const capacity = this.#ring.length;
    for (let i = 0; i < out.length; i++) out[i] = this.#ring[(this.#readIndex + i) % capacity] ?? 0;
    this.#readIndex = (this.#readIndex + out.length) % capacity;
    this.#buffered -= out.length;
  }

  /** Samples (per channel) waiting in the ring. */
  get bufferedFrames(): number {
    return this.#buffered / CAPTURE_CHANNELS;
  }

  stats(): AudioCaptureStats {
    return {
      framesReceived: this.#framesReceived,
      framesDropped: this.#framesDropped,
      underruns: this.#underruns,
      peak: this.#peak,
      running: this.#running,
    };
  }

  /** Stops parec. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return this.#exited;
    this.#closed = true;
    if (this.#running) this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 1000);
    await this.#exited;
    clearTimeout(timer);
  }
}
