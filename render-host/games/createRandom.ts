/**
 * A seeded PRNG (mulberry32) whose whole state is one u32, so it lives inside a game's snapshot and the same
 * seed and inputs replay the same game. Integer ops only: identical on every machine and V8 version.
 */
export type RandomState = { s: number };

export function createRandomState(seed: number): RandomState {
  return { s: seed >>> 0 };
}

/** Next float in [0, 1). Mutates `state`. */
export function nextRandom(state: RandomState): number {
  state.s = (state.s + 0x6d2b79f5) >>> 0;
  let t = state.s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** Float in [min, max). */
export function randomBetween(state: RandomState, min: number, max: number): number {
  return min + nextRandom(state) * (max - min);
}
