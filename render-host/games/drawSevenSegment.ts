import { Path2D, type SKRSContext2D } from '@napi-rs/canvas';

// Segments a..g per digit, as bits (a = top, then clockwise, g = middle).
const DIGIT_SEGMENTS = [0x3f, 0x06, 0x5b, 0x4f, 0x66, 0x6d, 0x7d, 0x07, 0x7f, 0x6f] as const;

export type DrawSevenSegmentParameters = {
  text: string;
  x: number;
  y: number;
  heightPx: number;
  color: string;
  /** Dim colour for unlit segments (the LCD ghost), or undefined for none. */
  ghostColor?: string;
};

/**
 * Draws digits as seven-segment strokes: the HUD needs no font file, so it looks the same on every render host
 * whatever fonts its OS has. Non-digits draw as blanks. Returns the width drawn.
 */
export function drawSevenSegment(ctx: SKRSContext2D, params: DrawSevenSegmentParameters): number {
  const h = params.heightPx;
  const w = h * 0.5;
  const gap = h * 0.22;
  const half = h / 2;
  ctx.save();
  ctx.lineCap = 'round';
  ctx.lineWidth = Math.max(2, h * 0.12);
  // Two paths (lit, ghost), two strokes: one stroke per segment costs Skia ~30 µs each.
  const lit = new Path2D();
  const ghost = new Path2D();
  let x = params.x;
  for (const ch of params.text) {
    const digit = ch.charCodeAt(0) - 48;
    const on = digit >= 0 && digit <= 9 ? (DIGIT_SEGMENTS[digit] ?? 0) : 0;
    const segments: [number, number, number, number][] = [
      [x, params.y, x + w, params.y],
      [x + w, params.y, x + w, params.y + half],
      [x + w, params.y + half, x + w, params.y + h],
      [x, params.y + h, x + w, params.y + h],
      [x, params.y + half, x, params.y + h],
      [x, params.y, x, params.y + half],
      [x, params.y + half, x + w, params.y + half],
    ];
    for (const [i, [x0, y0, x1, y1]] of segments.entries()) {
      const path = (on >> i) & 1 ? lit : ghost;
      path.moveTo(x0, y0);
      path.lineTo(x1, y1);
    }
    x += w + gap;
  }
  if (params.ghostColor) {
    ctx.strokeStyle = params.ghostColor;
    ctx.stroke(ghost);
  }
  ctx.strokeStyle = params.color;
  ctx.stroke(lit);
  ctx.restore();
  return x - params.x - gap;
}
