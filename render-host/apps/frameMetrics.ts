/**
 * Cheap measurements on 4-byte-per-pixel frames (BGRA from x11grab or RGBA from a decoder: both work, only
 * the sum of the three colour channels is used). Readiness uses `litFraction`; tests and the browser scenario
 * use `horizontalShift` to tell a scrolling level from a standing one.
 */

export type FrameView = { pixels: Uint8Array; width: number; height: number };

/** Share (0..1) of sampled pixels with any colour channel above `threshold` (alpha ignored). */
export function litFraction({ pixels, width, height }: FrameView, threshold = 24): number {
  const total = width * height;
  // Every 7th pixel of every 4th row: ≈ 33k samples at 720p, well under a millisecond.
  let sampled = 0;
  let lit = 0;
  for (let y = 0; y < height; y += 4) {
    const row = y * width * 4;
    for (let x = y % 7; x < width; x += 7) {
      const i = row + x * 4;
      sampled += 1;
      if ((pixels[i] ?? 0) > threshold || (pixels[i + 1] ?? 0) > threshold || (pixels[i + 2] ?? 0) > threshold) {
        lit += 1;
      }
    }
  }
  return total === 0 || sampled === 0 ? 0 : lit / sampled;
}

/** Mean absolute difference (0..255) of the colour channels of two same-sized frames, sampled. */
export function meanAbsDifference(a: FrameView, b: FrameView): number {
  const n = Math.min(a.pixels.length, b.pixels.length);
  let sum = 0;
  let count = 0;
  for (let i = 0; i + 2 < n; i += 4 * 5) {
    sum +=
      Math.abs((a.pixels[i] ?? 0) - (b.pixels[i] ?? 0)) +
      Math.abs((a.pixels[i + 1] ?? 0) - (b.pixels[i + 1] ?? 0)) +
      Math.abs((a.pixels[i + 2] ?? 0) - (b.pixels[i + 2] ?? 0));
    count += 3;
  }
  return count === 0 ? 0 : sum / count;
}

export type HorizontalShiftParameters = {
  /** Rows to compare, [first, last) in pixels: pick the band with the level's foreground. */
  rows: readonly [number, number];
  maxShiftPx: number;
};

export type HorizontalShiftReturnType = {
  /**
   * How far the picture moved left from `before` to `after`, in pixels (positive: the content moved left, as a
   * level does when the camera follows a player running right).
   */
  shiftPx: number;
  /** Mean absolute luminance difference at the best shift, and with no shift at all. */
  errorAtBest: number;
  errorAtZero: number;
};

function luminanceRows(frame: FrameView, rows: readonly [number, number], step: number): Float32Array[] {
  const out: Float32Array[] = [];
  const first = Math.max(0, rows[0]);
  const last = Math.min(frame.height, rows[1]);
  for (let y = first; y < last; y += step) {
    const line = new Float32Array(Math.floor(frame.width / 2));
    const base = y * frame.width * 4;
    for (let x = 0; x < line.length; x++) {
      const i = base + x * 8;
      line[x] = (frame.pixels[i] ?? 0) + (frame.pixels[i + 1] ?? 0) + (frame.pixels[i + 2] ?? 0);
    }
    out.push(line);
  }
  return out;
}

/**
 * The horizontal displacement between two frames that best explains `after` (sum of absolute differences over
 * a band of rows, at half horizontal resolution, so the result is a multiple of 2 px).
 */
export function horizontalShift(
  before: FrameView,
  after: FrameView,
  { rows, maxShiftPx }: HorizontalShiftParameters,
): HorizontalShiftReturnType {
  const a = luminanceRows(before, rows, 4);
  const b = luminanceRows(after, rows, 4);
  const maxShift = Math.floor(maxShiftPx / 2);
  const error = (shift: number): number => {
    let sum = 0;
    let count = 0;
    for (let r = 0; r < a.length; r++) {
      const ra = a[r];
      const rb = b[r];
      if (!ra || !rb) continue;
      // after[x] ≈ before[x + shift]: content that was at x + shift is now at x.
      const from = Math.max(0, -shift);
      const to = Math.min(rb.length, ra.length - shift);
      for (let x = from; x < to; x++) sum += Math.abs((rb[x] ?? 0) - (ra[x + shift] ?? 0));
      count += Math.max(0, to - from);
    }
    return count === 0 ? Number.POSITIVE_INFINITY : sum / count / 3;
  };
  let best = 0;
  let bestError = error(0);
  const errorAtZero = bestError;
  for (let shift = -maxShift; shift <= maxShift; shift++) {
    if (shift === 0) continue;
    const e = error(shift);
    if (e < bestError) {
      bestError = e;
      best = shift;
    }
  }
  return { shiftPx: best * 2, errorAtBest: bestError, errorAtZero };
}
