/**
 * Neon Drift's simulation: the whole game state as one TypeBox schema (type and snapshot validator at once),
 * a fixed 60 Hz step and input application. No rendering, no audio, no clock: same seed + same inputs at the
 * same ticks → same state. Only + − × ÷ and sqrt here (IEEE-exact everywhere); trig lives in the renderer.
 */
import { type Static, Type } from '@sinclair/typebox';
import {
  GamepadInput,
  KeyInput,
  keyIdFromCode,
  PointerButtonInput,
  PointerDeltaInput,
  PointerMoveInput,
} from '../../../signaling/protocol/index.js';
import { createRandomState, nextRandom, randomBetween } from '../createRandom.js';
import type { GameInputMessage } from '../GameRuntime.js';

export const NEON_DRIFT_WIDTH = 1280;
export const NEON_DRIFT_HEIGHT = 720;
/** The arena starts below the HUD strip. */
export const ARENA = { minX: 14, minY: 58, maxX: 1266, maxY: 706 } as const;

export const SHIP_RADIUS = 16;
export const ORB_RADIUS = 11;
const SHIP_HIT_RADIUS = 11;
const ACCEL = 0.55;
const DRAG = 0.93;
const BOOST_IMPULSE = 10;
const BOOST_COOLDOWN_TICKS = 50;
const BOOST_TRAIL_TICKS = 12;
const WALL_BOUNCE = 0.55;
const ORB_COUNT = 4;
const COMBO_WINDOW_TICKS = 120;
const MAX_COMBO = 9;
const START_LIVES = 3;
const INVULNERABLE_TICKS = 90;
const RESTART_AFTER_TICKS = 45;
const MAX_PARTICLES = 240;
const MAX_HAZARDS = 12;
const DEADZONE = 0.2;

const Vec2 = { x: Type.Number(), y: Type.Number() };

export const NeonDriftStateSchema = Type.Object(
  {
    tick: Type.Integer({ minimum: 0 }),
    rng: Type.Object({ s: Type.Integer({ minimum: 0, maximum: 0xffffffff }) }),
    phase: Type.Union([Type.Literal('playing'), Type.Literal('over')]),
    ship: Type.Object({
      ...Vec2,
      vx: Type.Number(),
      vy: Type.Number(),
      /** Unit vector the ship points along (last direction of travel). */
      hx: Type.Number(),
      hy: Type.Number(),
      invulnerableTicks: Type.Integer({ minimum: 0 }),
      boostCooldownTicks: Type.Integer({ minimum: 0 }),
      boostTicks: Type.Integer({ minimum: 0 }),
    }),
    score: Type.Integer({ minimum: 0 }),
    best: Type.Integer({ minimum: 0 }),
    lives: Type.Integer({ minimum: 0 }),
    combo: Type.Integer({ minimum: 1 }),
    comboTicks: Type.Integer({ minimum: 0 }),
    overTicks: Type.Integer({ minimum: 0 }),
    shakeTicks: Type.Integer({ minimum: 0 }),
    orbs: Type.Array(Type.Object({ ...Vec2, bornTick: Type.Integer() }), { maxItems: 64 }),
    hazards: Type.Array(
      Type.Object({ ...Vec2, vx: Type.Number(), vy: Type.Number(), r: Type.Number(), bornTick: Type.Integer() }),
      { maxItems: 64 },
    ),
    particles: Type.Array(
      Type.Object({
        ...Vec2,
        vx: Type.Number(),
        vy: Type.Number(),
        life: Type.Integer(),
        maxLife: Type.Integer(),
        hue: Type.Number(),
      }),
      { maxItems: 1024 },
    ),
    controls: Type.Object({
      /** Wire key ids currently held, sorted. */
      keys: Type.Array(Type.Integer({ minimum: 0, maximum: 65535 }), { maxItems: 256 }),
      /** Pointer in arena pixels; -1 until the pointer was seen. */
      pointerX: Type.Number(),
      pointerY: Type.Number(),
      pointerButtons: Type.Integer({ minimum: 0 }),
      padButtons: Type.Integer({ minimum: 0 }),
      padAxisX: Type.Integer({ minimum: -32768, maximum: 32767 }),
      padAxisY: Type.Integer({ minimum: -32768, maximum: 32767 }),
      /** Latched press edges, so a tap shorter than a tick still counts. */
      boostQueued: Type.Boolean(),
      confirmQueued: Type.Boolean(),
      /** Seq of the newest snapshot-style message applied per kind: older ones arriving late are stale. */
      pointerSeq: Type.Integer({ minimum: 0 }),
      padSeq: Type.Integer({ minimum: 0 }),
    }),
    lastInputSeq: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

export type NeonDriftState = Static<typeof NeonDriftStateSchema>;
type Ship = NeonDriftState['ship'];

/** Things that happened in a step; the synth turns them into sound, nothing feeds them back into state. */
export type NeonDriftEvent =
  | { kind: 'collect'; combo: number }
  | { kind: 'boost' }
  | { kind: 'hit' }
  | { kind: 'gameover' }
  | { kind: 'restart' };

function keyId(code: string): number {
  const id = keyIdFromCode(code);
  if (id === undefined) throw new Error(`key ${code} missing from the protocol key table`);
  return id;
}

const KEYS: Record<'left' | 'right' | 'up' | 'down' | 'boost' | 'confirm', readonly number[]> = {
  left: [keyId('ArrowLeft'), keyId('KeyA')],
  right: [keyId('ArrowRight'), keyId('KeyD')],
  up: [keyId('ArrowUp'), keyId('KeyW')],
  down: [keyId('ArrowDown'), keyId('KeyS')],
  boost: [keyId('Space'), keyId('ShiftLeft'), keyId('ShiftRight'), keyId('KeyJ')],
  confirm: [keyId('Enter'), keyId('Space')],
};

/** W3C standard gamepad mapping. */
const PAD = { a: 0, b: 1, rb: 5, rt: 7, start: 9, up: 12, down: 13, left: 14, right: 15 } as const;
const padBit = (button: number) => 2 ** button;
const PAD_BOOST_MASK = padBit(PAD.a) | padBit(PAD.rb) | padBit(PAD.rt);
const PAD_CONFIRM_MASK = padBit(PAD.a) | padBit(PAD.start);
const POINTER_LEFT = 1;
const POINTER_RIGHT = 4;

export function createNeonDriftState(seed: number): NeonDriftState {
  const state: NeonDriftState = {
    tick: 0,
    rng: createRandomState(seed),
    phase: 'playing',
    ship: freshShip(),
    score: 0,
    best: 0,
    lives: START_LIVES,
    combo: 1,
    comboTicks: 0,
    overTicks: 0,
    shakeTicks: 0,
    orbs: [],
    hazards: [],
    particles: [],
    controls: {
      keys: [],
      pointerX: -1,
      pointerY: -1,
      pointerButtons: 0,
      padButtons: 0,
      padAxisX: 0,
      padAxisY: 0,
      boostQueued: false,
      confirmQueued: false,
      pointerSeq: 0,
      padSeq: 0,
    },
    lastInputSeq: 0,
  };
  populateArena(state);
  return state;
}

function freshShip(): Ship {
  return {
    x: (ARENA.minX + ARENA.maxX) / 2,
    y: (ARENA.minY + ARENA.maxY) / 2,
    vx: 0,
    vy: 0,
    hx: 1,
    hy: 0,
    invulnerableTicks: INVULNERABLE_TICKS,
    boostCooldownTicks: 0,
    boostTicks: 0,
  };
}

function populateArena(state: NeonDriftState): void {
  state.orbs = [];
  state.hazards = [];
  for (let i = 0; i < ORB_COUNT; i++) state.orbs.push(spawnOrb(state));
  while (state.hazards.length < hazardTarget(state.score)) state.hazards.push(spawnHazard(state));
}

function hazardTarget(score: number): number {
  return Math.min(MAX_HAZARDS, 3 + Math.floor(score / 120));
}

/** A random arena point at least `clearance` px from the ship (gives up after a few tries: never loops forever). */
function spawnPoint(state: NeonDriftState, margin: number, clearance: number): { x: number; y: number } {
  let x = 0;
  let y = 0;
  for (let attempt = 0; attempt < 8; attempt++) {
    x = randomBetween(state.rng, ARENA.minX + margin, ARENA.maxX - margin);
    y = randomBetween(state.rng, ARENA.minY + margin, ARENA.maxY - margin);
    const dx = x - state.ship.x;
    const dy = y - state.ship.y;
    if (dx * dx + dy * dy >= clearance * clearance) break;
  }
  return { x, y };
}

function spawnOrb(state: NeonDriftState): NeonDriftState['orbs'][number] {
  return { ...spawnPoint(state, 40, 160), bornTick: state.tick };
}

function spawnHazard(state: NeonDriftState): NeonDriftState['hazards'][number] {
  const { x, y } = spawnPoint(state, 60, 260);
  let dx = randomBetween(state.rng, -1, 1);
  let dy = randomBetween(state.rng, -1, 1);
  const length = Math.sqrt(dx * dx + dy * dy) || 1;
  dx /= length;
  dy /= length;
  const speed = randomBetween(state.rng, 1.4, 2.4) + Math.min(2, state.score / 400);
  return { x, y, vx: dx * speed, vy: dy * speed, r: randomBetween(state.rng, 16, 28), bornTick: state.tick };
}

function held(keys: readonly number[], wanted: readonly number[]): boolean {
  return wanted.some((id) => keys.includes(id));
}

/** Applies one input message to the controls (takes effect at the next step). Returns false for stale input. */
export function applyNeonDriftInput(state: NeonDriftState, message: GameInputMessage): boolean {
  const c = state.controls;
  if (message instanceof KeyInput) {
    const keys = c.keys.filter((id) => id !== message.key);
    if (message.down) {
      if (!c.keys.includes(message.key)) {
        if (KEYS.boost.includes(message.key)) c.boostQueued = true;
        if (KEYS.confirm.includes(message.key)) c.confirmQueued = true;
      }
      keys.push(message.key);
      keys.sort((a, b) => a - b);
    }
    c.keys = keys;
  } else if (message instanceof GamepadInput) {
    // Snapshots travel unordered: one older than the newest applied is stale, not newer information.
    if (message.seq < c.padSeq) return false;
    c.padSeq = message.seq;
    const pressed = message.buttons >>> 0;
    const newlyPressed = pressed & ~c.padButtons;
    if (newlyPressed & PAD_BOOST_MASK) c.boostQueued = true;
    if (newlyPressed & PAD_CONFIRM_MASK) c.confirmQueued = true;
    c.padButtons = pressed;
    c.padAxisX = message.axes[0];
    c.padAxisY = message.axes[1];
  } else if (message instanceof PointerButtonInput) {
    const bit = 2 ** Math.min(message.button, 30);
    if (message.down) {
      if (!(c.pointerButtons & bit)) {
        if (bit === POINTER_RIGHT) c.boostQueued = true;
        if (bit === POINTER_LEFT) c.confirmQueued = true;
      }
      c.pointerButtons |= bit;
    } else {
      c.pointerButtons &= ~bit;
    }
  } else if (message instanceof PointerDeltaInput) {
    if (c.pointerX < 0) {
      c.pointerX = state.ship.x;
      c.pointerY = state.ship.y;
    }
    c.pointerX = clamp(c.pointerX + message.dx, ARENA.minX, ARENA.maxX);
    c.pointerY = clamp(c.pointerY + message.dy, ARENA.minY, ARENA.maxY);
  } else if (message instanceof PointerMoveInput) {
    if (message.seq < c.pointerSeq) return false;
    c.pointerSeq = message.seq;
    c.pointerX = (message.x / 65535) * NEON_DRIFT_WIDTH;
    c.pointerY = (message.y / 65535) * NEON_DRIFT_HEIGHT;
  }
  // Wheel input has no meaning in this game; it still counts as applied input.
  state.lastInputSeq = Math.max(state.lastInputSeq, message.seq >>> 0);
  return true;
}

function clamp(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(value, max));
}

function axis(raw: number): number {
  const value = raw / 32767;
  return value > DEADZONE || value < -DEADZONE ? value : 0;
}

/** Advances the game by one 1/60 s step; returns what happened (for sound). */
export function stepNeonDrift(state: NeonDriftState): NeonDriftEvent[] {
  const events: NeonDriftEvent[] = [];
  state.tick += 1;
  stepParticles(state);
  if (state.shakeTicks > 0) state.shakeTicks -= 1;
  const c = state.controls;

  if (state.phase === 'over') {
    state.overTicks += 1;
    if (c.confirmQueued && state.overTicks > RESTART_AFTER_TICKS) restart(state, events);
    c.confirmQueued = false;
    c.boostQueued = false;
    return events;
  }

  const ship = state.ship;
  // Thrust: keys, d-pad, left stick and mouse steering add up, clamped to unit length.
  let tx = 0;
  let ty = 0;
  if (held(c.keys, KEYS.left) || c.padButtons & padBit(PAD.left)) tx -= 1;
  if (held(c.keys, KEYS.right) || c.padButtons & padBit(PAD.right)) tx += 1;
  if (held(c.keys, KEYS.up) || c.padButtons & padBit(PAD.up)) ty -= 1;
  if (held(c.keys, KEYS.down) || c.padButtons & padBit(PAD.down)) ty += 1;
  tx += axis(c.padAxisX);
  ty += axis(c.padAxisY);
  if (c.pointerButtons & POINTER_LEFT && c.pointerX >= 0) {
    const dx = c.pointerX - ship.x;
    const dy = c.pointerY - ship.y;
    const distance = Math.sqrt(dx * dx + dy * dy);
    if (distance > 6) {
      const pull = Math.min(1, distance / 120);
      tx += (dx / distance) * pull;
      ty += (dy / distance) * pull;
    }
  }
  const thrust = Math.sqrt(tx * tx + ty * ty);
  if (thrust > 1) {
    tx /= thrust;
    ty /= thrust;
  }
  ship.vx += tx * ACCEL;
  ship.vy += ty * ACCEL;

  if (c.boostQueued && ship.boostCooldownTicks === 0) {
    let bx = ship.hx;
    let by = ship.hy;
    if (thrust > 0.1) {
      const length = Math.sqrt(tx * tx + ty * ty);
      bx = tx / length;
      by = ty / length;
    }
    ship.vx += bx * BOOST_IMPULSE;
    ship.vy += by * BOOST_IMPULSE;
    ship.boostCooldownTicks = BOOST_COOLDOWN_TICKS;
    ship.boostTicks = BOOST_TRAIL_TICKS;
    burst(state, ship.x, ship.y, 14, 190, 5);
    events.push({ kind: 'boost' });
  }
  c.boostQueued = false;
  c.confirmQueued = false;

  ship.vx *= DRAG;
  ship.vy *= DRAG;
  ship.x += ship.vx;
  ship.y += ship.vy;
  bounceShip(ship);
  const speed = Math.sqrt(ship.vx * ship.vx + ship.vy * ship.vy);
  if (speed > 0.3) {
    ship.hx = ship.vx / speed;
    ship.hy = ship.vy / speed;
  }
  if (ship.boostCooldownTicks > 0) ship.boostCooldownTicks -= 1;
  if (ship.boostTicks > 0) ship.boostTicks -= 1;
  if (ship.invulnerableTicks > 0) ship.invulnerableTicks -= 1;
  if (state.comboTicks > 0) state.comboTicks -= 1;
  else state.combo = 1;
  if (speed > 2 && state.tick % 2 === 0) trail(state, ship);

  for (const [i, orb] of state.orbs.entries()) {
    const dx = orb.x - ship.x;
    const dy = orb.y - ship.y;
    const reach = SHIP_RADIUS + ORB_RADIUS;
    if (dx * dx + dy * dy > reach * reach) continue;
    state.combo = state.comboTicks > 0 ? Math.min(MAX_COMBO, state.combo + 1) : 1;
    state.comboTicks = COMBO_WINDOW_TICKS;
    state.score += 10 * state.combo;
    state.best = Math.max(state.best, state.score);
    burst(state, orb.x, orb.y, 18, 55 + state.combo * 20, 4);
    events.push({ kind: 'collect', combo: state.combo });
    state.orbs[i] = spawnOrb(state);
  }

  for (const hazard of state.hazards) {
    hazard.x += hazard.vx;
    hazard.y += hazard.vy;
    if (hazard.x < ARENA.minX + hazard.r || hazard.x > ARENA.maxX - hazard.r) {
      hazard.vx = -hazard.vx;
      hazard.x = clamp(hazard.x, ARENA.minX + hazard.r, ARENA.maxX - hazard.r);
    }
    if (hazard.y < ARENA.minY + hazard.r || hazard.y > ARENA.maxY - hazard.r) {
      hazard.vy = -hazard.vy;
      hazard.y = clamp(hazard.y, ARENA.minY + hazard.r, ARENA.maxY - hazard.r);
    }
    // A hazard is harmless for its first second, while it fades in.
    if (ship.invulnerableTicks > 0 || state.tick - hazard.bornTick < 60) continue;
    const dx = hazard.x - ship.x;
    const dy = hazard.y - ship.y;
    const reach = hazard.r + SHIP_HIT_RADIUS;
    if (dx * dx + dy * dy > reach * reach) continue;
    state.lives -= 1;
    state.combo = 1;
    state.comboTicks = 0;
    state.shakeTicks = 20;
    ship.invulnerableTicks = INVULNERABLE_TICKS;
    ship.vx = (ship.x - hazard.x) * 0.25;
    ship.vy = (ship.y - hazard.y) * 0.25;
    burst(state, ship.x, ship.y, 30, 0, 6);
    events.push({ kind: 'hit' });
    if (state.lives <= 0) {
      state.lives = 0;
      state.phase = 'over';
      state.overTicks = 0;
      events.push({ kind: 'gameover' });
      break;
    }
  }
  if (state.phase === 'playing' && state.hazards.length < hazardTarget(state.score)) {
    state.hazards.push(spawnHazard(state));
  }
  return events;
}

function restart(state: NeonDriftState, events: NeonDriftEvent[]): void {
  state.phase = 'playing';
  state.score = 0;
  state.lives = START_LIVES;
  state.combo = 1;
  state.comboTicks = 0;
  state.overTicks = 0;
  state.ship = freshShip();
  populateArena(state);
  events.push({ kind: 'restart' });
}

function bounceShip(ship: Ship): void {
  const minX = ARENA.minX + SHIP_RADIUS;
  const maxX = ARENA.maxX - SHIP_RADIUS;
  const minY = ARENA.minY + SHIP_RADIUS;
  const maxY = ARENA.maxY - SHIP_RADIUS;
  if (ship.x < minX || ship.x > maxX) {
    ship.x = clamp(ship.x, minX, maxX);
    ship.vx = -ship.vx * WALL_BOUNCE;
  }
  if (ship.y < minY || ship.y > maxY) {
    ship.y = clamp(ship.y, minY, maxY);
    ship.vy = -ship.vy * WALL_BOUNCE;
  }
}

function addParticle(state: NeonDriftState, particle: NeonDriftState['particles'][number]): void {
  if (state.particles.length >= MAX_PARTICLES) state.particles.shift();
  state.particles.push(particle);
}

function burst(state: NeonDriftState, x: number, y: number, count: number, hue: number, speed: number): void {
  for (let i = 0; i < count; i++) {
    let dx = randomBetween(state.rng, -1, 1);
    let dy = randomBetween(state.rng, -1, 1);
    const length = Math.sqrt(dx * dx + dy * dy) || 1;
    const v = speed * (0.3 + nextRandom(state.rng));
    dx = (dx / length) * v;
    dy = (dy / length) * v;
    const life = 20 + Math.floor(nextRandom(state.rng) * 25);
    addParticle(state, { x, y, vx: dx, vy: dy, life, maxLife: life, hue: hue + randomBetween(state.rng, -20, 20) });
  }
}

function trail(state: NeonDriftState, ship: Ship): void {
  const life = ship.boostTicks > 0 ? 26 : 16;
  addParticle(state, {
    x: ship.x - ship.hx * SHIP_RADIUS,
    y: ship.y - ship.hy * SHIP_RADIUS,
    vx: -ship.vx * 0.15 + randomBetween(state.rng, -0.4, 0.4),
    vy: -ship.vy * 0.15 + randomBetween(state.rng, -0.4, 0.4),
    life,
    maxLife: life,
    hue: ship.boostTicks > 0 ? 300 : 185,
  });
}

function stepParticles(state: NeonDriftState): void {
  let kept = 0;
  for (const p of state.particles) {
    p.x += p.vx;
    p.y += p.vy;
    p.vx *= 0.95;
    p.vy *= 0.95;
    p.life -= 1;
    if (p.life > 0) state.particles[kept++] = p;
  }
  state.particles.length = kept;
}
