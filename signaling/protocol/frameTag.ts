/**
 * A machine-readable tag drawn into the top-left corner of every streamed frame, so tests and benchmarks
 * can read, from the decoded video alone, which frame they see and which input it already reflects.
 *
 * 80 bits in 2 rows × 40 blocks of 12×12 px (480×24 px at 1280×720): an 8-bit marker, u32 frame number,
 * u32 last applied input seq, CRC-8 of those 8 bytes. Black = 0, white = 1. Blocks this large survive x264
 * and VP8 at low bitrates; the CRC turns a misread into "no tag" rather than a wrong number.
 */
export const FRAME_TAG_BLOCK_PX = 12;
export const FRAME_TAG_COLUMNS = 40;
export const FRAME_TAG_ROWS = 2;
export const FRAME_TAG_WIDTH_PX = FRAME_TAG_BLOCK_PX * FRAME_TAG_COLUMNS;
export const FRAME_TAG_HEIGHT_PX = FRAME_TAG_BLOCK_PX * FRAME_TAG_ROWS;
/** The tag's geometry is defined at this frame width and scales with the frame. */
export const FRAME_TAG_REFERENCE_WIDTH = 1280;

const MARKER = [1, 0, 1, 1, 0, 0, 1, 0] as const;

export type FrameTag = { frame: number; inputSeq: number };

/** RGBA pixels, row-major, 4 bytes per pixel (canvas ImageData, @napi-rs/canvas data(), a decoded frame). */
export type RgbaImage = { data: Uint8Array | Uint8ClampedArray; width: number; height: number };

function crc8(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

function payloadBytes({ frame, inputSeq }: FrameTag): Uint8Array {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, frame >>> 0);
  view.setUint32(4, inputSeq >>> 0);
  return bytes;
}

/** The 80 bits of a tag, marker first, most significant bit first. */
export function frameTagBits(tag: FrameTag): number[] {
  const payload = payloadBytes(tag);
  const bits: number[] = [...MARKER];
  for (const byte of [...payload, crc8(payload)]) {
    for (let bit = 7; bit >= 0; bit--) bits.push((byte >> bit) & 1);
  }
  return bits;
}

/** Draws the tag into an RGBA buffer in place (the buffer's width must be ≥ the tag's scaled width). */
export function drawFrameTag(image: RgbaImage, tag: FrameTag): void {
  const bits = frameTagBits(tag);
  const block = Math.max(1, Math.round((FRAME_TAG_BLOCK_PX * image.width) / FRAME_TAG_REFERENCE_WIDTH));
  const stride = image.width * 4;
  for (let i = 0; i < bits.length; i++) {
    const value = bits[i] ? 255 : 0;
    const x0 = (i % FRAME_TAG_COLUMNS) * block;
    const y0 = Math.floor(i / FRAME_TAG_COLUMNS) * block;
    for (let y = y0; y < y0 + block && y < image.height; y++) {
      let offset = y * stride + x0 * 4;
      for (let x = 0; x < block; x++, offset += 4) {
        image.data[offset] = value;
        image.data[offset + 1] = value;
        image.data[offset + 2] = value;
        image.data[offset + 3] = 255;
      }
    }
  }
}

/** Reads the tag back from a decoded frame; null when absent or corrupt (marker or CRC mismatch). */
export function readFrameTag(image: RgbaImage): FrameTag | null {
  const scale = image.width / FRAME_TAG_REFERENCE_WIDTH;
  const block = FRAME_TAG_BLOCK_PX * scale;
  const bits: number[] = [];
  for (let i = 0; i < FRAME_TAG_COLUMNS * FRAME_TAG_ROWS; i++) {
    // Average the central half of the block: edges carry the codec's ringing.
    const cx = ((i % FRAME_TAG_COLUMNS) + 0.5) * block;
    const cy = (Math.floor(i / FRAME_TAG_COLUMNS) + 0.5) * block;
    const half = Math.max(1, Math.floor(block / 4));
    let sum = 0;
    let count = 0;
    for (let y = Math.floor(cy - half); y < Math.ceil(cy + half); y++) {
      for (let x = Math.floor(cx - half); x < Math.ceil(cx + half); x++) {
        if (x < 0 || y < 0 || x >= image.width || y >= image.height) continue;
        const o = (y * image.width + x) * 4;
        sum += (299 * (image.data[o] ?? 0) + 587 * (image.data[o + 1] ?? 0) + 114 * (image.data[o + 2] ?? 0)) / 1000;
        count++;
      }
    }
    bits.push(count > 0 && sum / count >= 128 ? 1 : 0);
  }
  if (MARKER.some((bit, i) => bits[i] !== bit)) return null;
  const bytes = new Uint8Array(9);
  for (let b = 0; b < 9; b++) {
    let byte = 0;
    for (let bit = 0; bit < 8; bit++) byte = (byte << 1) | (bits[MARKER.length + b * 8 + bit] ?? 0);
    bytes[b] = byte;
  }
  if (crc8(bytes.subarray(0, 8)) !== bytes[8]) return null;
  const view = new DataView(bytes.buffer);
  return { frame: view.getUint32(0), inputSeq: view.getUint32(4) };
}
