import { type Canvas, createCanvas, type SKRSContext2D } from '@napi-rs/canvas';
import { drawSevenSegment } from '../drawSevenSegment.js';
import {
  ARENA,
  NEON_DRIFT_HEIGHT,
  NEON_DRIFT_WIDTH,
  type NeonDriftState,
  ORB_RADIUS,
  SHIP_RADIUS,
} from './neonDriftState.js';

/** The HUD strip along the top, above the arena. */
const HUD_LEFT = 24;
const STAR_COUNT = 90;

// Star field: fixed pseudo-random layout (render-only, so Math.sin and friends are fine here).
const STARS = Array.from({ length: STAR_COUNT }, (_, i) => {
  const h = Math.sin(i * 12.9898) * 43758.5453;
  const r = h - Math.floor(h);
  const h2 = Math.sin(i * 78.233) * 12345.678;
  const r2 = h2 - Math.floor(h2);
  return { x: r * NEON_DRIFT_WIDTH, y: ARENA.minY + r2 * (ARENA.maxY - ARENA.minY), speed: 0.3 + ((i * 7) % 10) / 6 };
});

/**
 * Draws one frame of Neon Drift from its state. Pure with respect to the state: never mutates it. With a `hud`
 * cache (one per canvas), the HUD's title, lives, combo and scores are drawn from a picture kept while they
 * stay the same (see NeonDriftHud); the picture is the same either way.
 */
export function drawNeonDrift(ctx: SKRSContext2D, state: NeonDriftState, hud?: NeonDriftHud): void {
  const t = state.tick;
  ctx.save();
  ctx.fillStyle = '#06030f';
  ctx.fillRect(0, 0, NEON_DRIFT_WIDTH, NEON_DRIFT_HEIGHT);

  if (state.shakeTicks > 0) {
    const k = state.shakeTicks / 2.5;
    ctx.translate(Math.sin(t * 1.7) * k, Math.cos(t * 2.3) * k);
  }
  drawBackdrop(ctx, t);
  drawArenaFrame(ctx, t);
  drawParticles(ctx, state);
  drawOrbs(ctx, state);
  drawHazards(ctx, state);
  drawPointer(ctx, state);
  drawShip(ctx, state);
  ctx.restore();
  if (!hud?.draw(ctx, state)) drawHud(ctx, state);
  drawBoostMeter(ctx, state);
  if (state.phase === 'over') drawGameOver(ctx, state);
}

function drawBackdrop(ctx: SKRSContext2D, t: number): void {
  // A synthwave floor: the horizontal lines scroll so there is always motion, even with the ship at rest.
  ctx.lineWidth = 1;
  ctx.strokeStyle = 'rgba(120, 40, 200, 0.35)';
  ctx.beginPath();
  for (let x = ARENA.minX; x <= ARENA.maxX; x += 64) {
    ctx.moveTo(x, ARENA.minY);
    ctx.lineTo(x, ARENA.maxY);
  }
  const offset = (t * 1.5) % 48;
  for (let y = ARENA.minY + offset; y <= ARENA.maxY; y += 48) {
    ctx.moveTo(ARENA.minX, y);
    ctx.lineTo(ARENA.maxX, y);
  }
  ctx.stroke();
  ctx.fillStyle = 'rgba(200, 220, 255, 0.7)';
  for (const star of STARS) {
    const span = ARENA.maxX - ARENA.minX;
    const x = ARENA.minX + ((((star.x - t * star.speed) % span) + span) % span);
    const size = star.speed > 1 ? 2 : 1;
    ctx.fillRect(x, star.y, size, size);
  }
}

function drawArenaFrame(ctx: SKRSContext2D, t: number): void {
  const glow = 0.5 + 0.2 * Math.sin(t * 0.05);
  const w = ARENA.maxX - ARENA.minX;
  const h = ARENA.maxY - ARENA.minY;
  ctx.strokeStyle = `rgba(0, 240, 255, ${(glow * 0.3).toFixed(3)})`;
  ctx.lineWidth = 8;
  ctx.strokeRect(ARENA.minX, ARENA.minY, w, h);
  ctx.strokeStyle = `rgba(120, 255, 255, ${glow.toFixed(3)})`;
  ctx.lineWidth = 2;
  ctx.strokeRect(ARENA.minX, ARENA.minY, w, h);
}

const HUE_STEP = 15;
const HUE_COLORS = Array.from({ length: 360 / HUE_STEP }, (_, i) => `hsl(${i * HUE_STEP}, 100%, 65%)`);

function drawParticles(ctx: SKRSContext2D, state: NeonDriftState): void {
  // One colour string per 15° of hue and the fade in globalAlpha: a CSS colour parse per particle was the
  // single most expensive thing in a frame.
  const byHue = new Map<number, NeonDriftState['particles']>();
  for (const p of state.particles) {
    const bucket = ((Math.round(p.hue / HUE_STEP) % HUE_COLORS.length) + HUE_COLORS.length) % HUE_COLORS.length;
    const list = byHue.get(bucket);
    if (list) list.push(p);
    else byHue.set(bucket, [p]);
  }
  ctx.save();
  for (const [bucket, particles] of byHue) {
    ctx.fillStyle = HUE_COLORS[bucket] ?? '#fff';
    for (const p of particles) {
      const a = p.life / p.maxLife;
      ctx.globalAlpha = a;
      const s = 2 + a * 3;
      ctx.fillRect(p.x - s / 2, p.y - s / 2, s, s);
    }
  }
  ctx.restore();
}

function drawOrbs(ctx: SKRSContext2D, state: NeonDriftState): void {
  for (const [i, orb] of state.orbs.entries()) {
    const age = state.tick - orb.bornTick;
    const grow = Math.min(1, age / 12);
    const r = (ORB_RADIUS + Math.sin(state.tick * 0.15 + i) * 2) * grow;
    if (r <= 0.5) continue;
    const halo = ctx.createRadialGradient(orb.x, orb.y, r * 0.3, orb.x, orb.y, r * 3);
    halo.addColorStop(0, 'rgba(120, 255, 160, 0.55)');
    halo.addColorStop(1, 'rgba(120, 255, 160, 0)');
    ctx.fillStyle = halo;
    ctx.fillRect(orb.x - r * 3, orb.y - r * 3, r * 6, r * 6);
    ctx.fillStyle = '#d8ffe0';
    ctx.beginPath();
    ctx.arc(orb.x, orb.y, r * 0.6, 0, Math.PI * 2);
    ctx.fill();
    ctx.strokeStyle = '#5dff8f';
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(orb.x, orb.y, r, 0, Math.PI * 2);
    ctx.stroke();
  }
}

function drawHazards(ctx: SKRSContext2D, state: NeonDriftState): void {
  for (const hazard of state.hazards) {
    const age = state.tick - hazard.bornTick;
    const armed = age >= 60;
    const alpha = armed ? 1 : 0.25 + 0.5 * Math.abs(Math.sin(age * 0.3));
    const spin = state.tick * 0.04 + hazard.r;
    ctx.save();
    ctx.translate(hazard.x, hazard.y);
    ctx.rotate(spin);
    ctx.globalAlpha = alpha;
    ctx.beginPath();
    const spikes = 7;
    for (let k = 0; k < spikes * 2; k++) {
      const radius = k % 2 === 0 ? hazard.r : hazard.r * 0.5;
      const angle = (k / (spikes * 2)) * Math.PI * 2;
      if (k === 0) ctx.moveTo(Math.cos(angle) * radius, Math.sin(angle) * radius);
      else ctx.lineTo(Math.cos(angle) * radius, Math.sin(angle) * radius);
    }
    ctx.closePath();
    ctx.fillStyle = 'rgba(255, 40, 110, 0.25)';
    ctx.fill();
    ctx.strokeStyle = '#ff3f8e';
    ctx.lineWidth = 2.5;
    ctx.stroke();
    ctx.restore();
  }
}

function drawPointer(ctx: SKRSContext2D, state: NeonDriftState): void {
  const c = state.controls;
  if (c.pointerX < 0) return;
  const steering = (c.pointerButtons & 1) === 1;
  ctx.strokeStyle = steering ? 'rgba(255, 230, 90, 0.9)' : 'rgba(255, 230, 90, 0.35)';
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.arc(c.pointerX, c.pointerY, 10, 0, Math.PI * 2);
  ctx.moveTo(c.pointerX - 16, c.pointerY);
  ctx.lineTo(c.pointerX + 16, c.pointerY);
  ctx.moveTo(c.pointerX, c.pointerY - 16);
  ctx.lineTo(c.pointerX, c.pointerY + 16);
  ctx.stroke();
}

function drawShip(ctx: SKRSContext2D, state: NeonDriftState): void {
  const ship = state.ship;
  if (state.phase === 'over') return;
  if (ship.invulnerableTicks > 0 && Math.floor(ship.invulnerableTicks / 4) % 2 === 0) return;
  const angle = Math.atan2(ship.hy, ship.hx);
  ctx.save();
  ctx.translate(ship.x, ship.y);
  ctx.rotate(angle);
  if (ship.boostTicks > 0) {
    ctx.fillStyle = `rgba(255, 80, 240, ${(ship.boostTicks / 12).toFixed(2)})`;
    ctx.beginPath();
    ctx.moveTo(-SHIP_RADIUS * 0.6, -SHIP_RADIUS * 0.45);
    ctx.lineTo(-SHIP_RADIUS * 2.4, 0);
    ctx.lineTo(-SHIP_RADIUS * 0.6, SHIP_RADIUS * 0.45);
    ctx.closePath();
    ctx.fill();
  }
  ctx.beginPath();
  ctx.moveTo(SHIP_RADIUS * 1.2, 0);
  ctx.lineTo(-SHIP_RADIUS * 0.8, -SHIP_RADIUS * 0.75);
  ctx.lineTo(-SHIP_RADIUS * 0.4, 0);
  ctx.lineTo(-SHIP_RADIUS * 0.8, SHIP_RADIUS * 0.75);
  ctx.closePath();
  ctx.fillStyle = 'rgba(0, 230, 255, 0.3)';
  ctx.fill();
  ctx.strokeStyle = 'rgba(0, 230, 255, 0.35)';
  ctx.lineWidth = 7;
  ctx.stroke();
  ctx.strokeStyle = '#b8fbff';
  ctx.lineWidth = 2;
  ctx.stroke();
  ctx.restore();
}

function drawHud(ctx: SKRSContext2D, state: NeonDriftState): void {
  ctx.save();
  ctx.fillStyle = 'rgba(255, 255, 255, 0.85)';
  ctx.font = 'bold 20px sans-serif';
  ctx.textBaseline = 'top';
  ctx.fillText('NEON DRIFT', HUD_LEFT, 16);

  // Lives as small ships.
  ctx.strokeStyle = '#00e6ff';
  ctx.lineWidth = 2;
  for (let i = 0; i < 3; i++) {
    const x = HUD_LEFT + 160 + i * 26;
    ctx.globalAlpha = i < state.lives ? 1 : 0.2;
    ctx.beginPath();
    ctx.moveTo(x + 10, 27);
    ctx.lineTo(x - 6, 18);
    ctx.lineTo(x - 2, 27);
    ctx.lineTo(x - 6, 36);
    ctx.closePath();
    ctx.stroke();
  }
  ctx.globalAlpha = 1;

  if (state.combo > 1) {
    ctx.fillStyle = '#5dff8f';
    ctx.font = 'bold 22px sans-serif';
    ctx.fillText(`x${state.combo}`, HUD_LEFT + 392, 14);
  }
  drawSevenSegment(ctx, {
    text: String(state.best).padStart(6, '0'),
    x: 1010,
    y: 16,
    heightPx: 20,
    color: 'rgba(255, 80, 240, 0.8)',
  });
  drawSevenSegment(ctx, {
    text: String(state.score).padStart(6, '0'),
    x: 1110,
    y: 10,
    heightPx: 32,
    color: '#fff25a',
    ghostColor: 'rgba(255, 242, 90, 0.08)',
  });
  ctx.restore();
}

/** The boost meter, in the HUD strip but not in NeonDriftHud's picture: it refills every tick after a boost. */
function drawBoostMeter(ctx: SKRSContext2D, state: NeonDriftState): void {
  const ready = 1 - state.ship.boostCooldownTicks / 50;
  ctx.save();
  ctx.lineWidth = 2;
  ctx.strokeStyle = 'rgba(255, 80, 240, 0.6)';
  ctx.strokeRect(HUD_LEFT + 250, 20, 120, 14);
  ctx.fillStyle = ready >= 1 ? '#ff50f0' : 'rgba(255, 80, 240, 0.45)';
  ctx.fillRect(HUD_LEFT + 252, 22, 116 * ready, 10);
  ctx.restore();
}

/** The HUD's two groups in game pixels (title, lives, combo on the left; best and score on the right), and the
 * strip's height: nothing but the background is drawn below them before the HUD (the arena starts at y 58). */
const HUD_STRIP_HEIGHT = 48;
const HUD_REGIONS = [
  { x: 0, width: 480 },
  { x: 1000, width: NEON_DRIFT_WIDTH - 1000 },
] as const;

/**
 * The HUD's title, lives, combo and scores as a picture, redrawn only when one of them changes (a few times a
 * minute), drawn onto each frame in two blits. Drawing them every frame was the most expensive part of a frame
 * (≈1 ms of a 720p frame's ≈3 ms, read-out included: text and the seven-segment strokes with round caps); a blit
 * of the two regions is ≈0.1–0.2 ms. The picture is kept at the canvas's own scale (a quality rung other than
 * 1280×720 draws the game scaled), so it is blitted pixel for pixel; src-over of the HUD drawn on its own equals
 * the HUD drawn straight onto the frame.
 */
export class NeonDriftHud {
  #canvas: Canvas | undefined;
  #ctx: SKRSContext2D | undefined;
  #scaleX = 0;
  #scaleY = 0;
  #key = '';

  /** Draws the cached HUD onto `ctx`; false (nothing drawn) when its transform is not a plain scale + offset. */
  draw(ctx: SKRSContext2D, state: NeonDriftState): boolean {
    const m = ctx.getTransform();
    if (m.b !== 0 || m.c !== 0 || m.a <= 0 || m.d <= 0) return false;
    if (!this.#canvas || !this.#ctx || m.a !== this.#scaleX || m.d !== this.#scaleY) {
      this.#canvas = createCanvas(Math.ceil(NEON_DRIFT_WIDTH * m.a), Math.ceil(HUD_STRIP_HEIGHT * m.d));
      this.#ctx = this.#canvas.getContext('2d');
      this.#ctx.setTransform(m.a, 0, 0, m.d, 0, 0);
      this.#scaleX = m.a;
      this.#scaleY = m.d;
      this.#key = '';
    }
    const key = `${state.lives} ${state.combo} ${state.best} ${state.score}`;
    if (key !== this.#key) {
      this.#ctx.clearRect(0, 0, NEON_DRIFT_WIDTH, HUD_STRIP_HEIGHT);
      drawHud(this.#ctx, state);
      this.#key = key;
    }
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, m.e, m.f);
    for (const region of HUD_REGIONS) {
      const x = Math.floor(region.x * m.a);
      const width = Math.min(this.#canvas.width, Math.ceil((region.x + region.width) * m.a)) - x;
      ctx.drawImage(this.#canvas, x, 0, width, this.#canvas.height, x, 0, width, this.#canvas.height);
    }
    ctx.restore();
    return true;
  }
}

function drawGameOver(ctx: SKRSContext2D, state: NeonDriftState): void {
  ctx.save();
  ctx.fillStyle = 'rgba(6, 3, 15, 0.6)';
  ctx.fillRect(ARENA.minX, ARENA.minY, ARENA.maxX - ARENA.minX, ARENA.maxY - ARENA.minY);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  const pulse = 0.75 + 0.25 * Math.sin(state.tick * 0.12);
  ctx.fillStyle = `rgba(255, 63, 142, ${pulse.toFixed(3)})`;
  ctx.font = 'bold 84px sans-serif';
  ctx.fillText('GAME OVER', NEON_DRIFT_WIDTH / 2, NEON_DRIFT_HEIGHT / 2 - 40);
  ctx.fillStyle = '#fff25a';
  ctx.font = 'bold 30px sans-serif';
  ctx.fillText(`score ${state.score}`, NEON_DRIFT_WIDTH / 2, NEON_DRIFT_HEIGHT / 2 + 30);
  ctx.fillStyle = 'rgba(255, 255, 255, 0.8)';
  ctx.font = '22px sans-serif';
  ctx.fillText('Enter, click or (A) to play again', NEON_DRIFT_WIDTH / 2, NEON_DRIFT_HEIGHT / 2 + 80);
  ctx.restore();
}
