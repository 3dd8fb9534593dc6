import { GAME_AUDIO_SAMPLE_RATE } from '../GameRuntime.js';
import type { NeonDriftEvent } from './neonDriftState.js';

const SR = GAME_AUDIO_SAMPLE_RATE;
const BPM = 120;
/** One 16th note. */
const STEP_SAMPLES = (SR * 60) / BPM / 4;
const LOOP_STEPS = 64;
/** i – VI – III – VII in A minor, one chord per bar (MIDI note numbers). */
const CHORDS: readonly (readonly [number, number, number])[] = [
  [57, 60, 64],
  [53, 57, 60],
  [60, 64, 67],
  [55, 59, 62],
];
const MAX_VOICES = 16;
const TAU = Math.PI * 2;

type Voice = { kind: NeonDriftEvent['kind']; startSample: number; combo: number; lowpass: number };

/** Every MIDI note's frequency, computed once: the music asks for two of them per sample (48,000 times a second). */
const MIDI_HZ = Float64Array.from({ length: 128 }, (_, note) => 440 * 2 ** ((note - 69) / 12));

function midiHz(note: number): number {
  return MIDI_HZ[note] ?? 440 * 2 ** ((note - 69) / 12);
}

/** Deterministic white noise in [-1, 1) from a sample index (integer hash: no state to carry). */
function noise(n: number): number {
  let x = (n * 0x9e3779b1) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35) >>> 0;
  x ^= x >>> 16;
  return x / 2147483648 - 1;
}

function tone(phase: number): number {
  // A softened square (fundamental + third harmonic): bright without the aliasing of a hard edge.
  return Math.sin(TAU * phase) + Math.sin(3 * TAU * phase) / 3;
}

/**
 * Neon Drift's sound: a procedural synthwave loop (bass, arpeggio, kick, hat) computed from the sample index,
 * plus one voice per game event. Rendered in whatever chunk sizes the session asks for, always continuous.
 */
export class NeonDriftSynth {
  #voices: Voice[] = [];
  musicGain = 1;

  /** Starts the sound of an event at `startSample` (or as soon as possible if that audio is already out). */
  trigger(event: NeonDriftEvent, startSample: number): void {
    if (this.#voices.length >= MAX_VOICES) this.#voices.shift();
    this.#voices.push({
      kind: event.kind,
      startSample,
      combo: event.kind === 'collect' ? event.combo : 0,
      lowpass: 0,
    });
  }

  get activeVoices(): number {
    return this.#voices.length;
  }

  /** Fills `out` (interleaved stereo s16) with samples from `startSample` on. */
  render(out: Int16Array, startSample: number): void {
    const frames = out.length / 2;
    for (let i = 0; i < frames; i++) {
      const n = startSample + i;
      const [musicL, musicR] = this.#music(n);
      let fx = 0;
      for (const voice of this.#voices) fx += this.#voiceSample(voice, n);
      const left = Math.tanh((musicL * this.musicGain + fx) * 0.9);
      const right = Math.tanh((musicR * this.musicGain + fx) * 0.9);
      out[2 * i] = Math.round(left * 32000);
      out[2 * i + 1] = Math.round(right * 32000);
    }
    const end = startSample + frames;
    this.#voices = this.#voices.filter((voice) => end - voice.startSample < voiceLength(voice.kind));
  }

  #music(n: number): [number, number] {
    const step = Math.floor(n / STEP_SAMPLES);
    const loopStep = step % LOOP_STEPS;
    const chord = CHORDS[Math.floor(loopStep / 16)] ?? CHORDS[0]!;
    // Bass on 8ths.
    const bassStart = (step - (step % 2)) * STEP_SAMPLES;
    const bt = (n - bassStart) / SR;
    const bass = tone(bt * midiHz(chord[0] - 24)) * Math.exp(-bt * 5) * 0.2;
    // Arpeggio on 16ths, alternating sides.
    const at = (n - step * STEP_SAMPLES) / SR;
    const arpNote = (chord[loopStep % 3] ?? chord[0]) + (loopStep % 8 >= 6 ? 24 : 12);
    const arp = tone(at * midiHz(arpNote)) * Math.exp(-at * 16) * 0.07;
    const pan = loopStep % 2 === 0 ? 0.75 : 0.25;
    // Kick on beats, hat on off-beat 8ths.
    let drums = 0;
    if (loopStep % 4 === 0) {
      const phase = 45 * at + (80 * (1 - Math.exp(-at * 30))) / 30;
      drums += Math.sin(TAU * phase) * Math.exp(-at * 9) * 0.32;
    } else if (loopStep % 4 === 2) {
      drums += noise(n) * Math.exp(-at * 70) * 0.05;
    }
    return [bass + drums + arp * (1 - pan) * 2, bass + drums + arp * pan * 2];
  }

  #voiceSample(voice: Voice, n: number): number {
    const t = (n - voice.startSample) / SR;
    if (t < 0) return 0;
    switch (voice.kind) {
      case 'collect': {
        const f0 = 660 * 2 ** (voice.combo / 12);
        // Exponential sweep up an octave in 120 ms: phase is the integral of the frequency.
        const k = Math.LN2 / 0.12;
        const phase = t < 0.12 ? (f0 * (Math.exp(k * t) - 1)) / k : (f0 * 1) / k + 2 * f0 * (t - 0.12);
        return (Math.sin(TAU * phase) + 0.4 * Math.sin(2 * TAU * phase)) * Math.exp(-t * 11) * 0.22;
      }
      case 'boost': {
        // Low-passed noise whose cutoff falls: a whoosh.
        const alpha = 0.05 + 0.4 * Math.exp(-t * 8);
        voice.lowpass += alpha * (noise(n + 7919) - voice.lowpass);
        return voice.lowpass * Math.sin(Math.PI * Math.min(1, t / 0.35)) * 0.5;
      }
      case 'hit': {
        const thud = tone(t * (90 - 40 * Math.min(1, t * 3))) * Math.exp(-t * 7) * 0.3;
        return thud + noise(n + 104729) * Math.exp(-t * 18) * 0.25;
      }
      case 'gameover': {
        const f = 440 * 2 ** (-2 * Math.min(1, t / 1.2));
        const phase = t * f;
        return tone(phase) * (1 - Math.min(1, t / 1.4)) * 0.16;
      }
      case 'restart': {
        const note = [69, 73, 76, 81][Math.min(3, Math.floor(t / 0.07))] ?? 81;
        return Math.sin(TAU * t * midiHz(note)) * Math.exp(-(t % 0.07) * 20) * 0.18;
      }
    }
  }
}

function voiceLength(kind: NeonDriftEvent['kind']): number {
  const seconds = { collect: 0.45, boost: 0.4, hit: 0.6, gameover: 1.5, restart: 0.35 }[kind];
  return Math.ceil(seconds * SR);
}
