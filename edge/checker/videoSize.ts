/**
 * The picture size a stream really carries, from its RTP payloads alone (no decoder): H.264's sequence parameter
 * set (a single NAL unit or inside a STAP-A aggregate, RFC 6184) and VP8's key-frame header (RFC 7741). A checker
 * holds a container to its game's resolution with it — a host that streams 320×180 and declares 1280×720 shows.
 */

export type VideoSize = { width: number; height: number };

/** Reads Exp-Golomb and fixed-width fields from an RBSP (emulation prevention bytes already removed). */
class BitReader {
  #bit = 0;
  constructor(readonly bytes: Uint8Array) {}

  bit(): number {
    const byte = this.bytes[this.#bit >> 3];
    if (byte === undefined) throw new RangeError('SPS ended early');
    const value = (byte >> (7 - (this.#bit & 7))) & 1;
    this.#bit += 1;
    return value;
  }

  bits(n: number): number {
    let value = 0;
    for (let i = 0; i < n; i++) value = value * 2 + this.bit();
    return value;
  }

  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      zeros += 1;
      if (zeros > 31) throw new RangeError('bad Exp-Golomb code');
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

function rbsp(nal: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < nal.length; i++) {
    if (i >= 2 && nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) continue;
    out.push(nal[i] ?? 0);
  }
  return Uint8Array.from(out);
}

function skipScalingList(reader: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + reader.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/** The cropped picture size of an H.264 SPS NAL unit (header byte included); undefined if it is not one. */
export function h264SpsSize(nal: Uint8Array): VideoSize | undefined {
  if (nal.length < 4 || ((nal[0] ?? 0) & 0x1f) !== 7) return undefined;
  try {
    const r = new BitReader(rbsp(nal.subarray(1)));
    const profileIdc = r.bits(8);
    r.bits(16); // constraint flags, level_idc
    r.ue(); // seq_parameter_set_id
    let chromaFormatIdc = 1;
    if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profileIdc)) {
      chromaFormatIdc = r.ue();
      if (chromaFormatIdc === 3) r.bit(); // separate_colour_plane_flag
      r.ue(); // bit_depth_luma_minus8
      r.ue(); // bit_depth_chroma_minus8
      r.bit(); // qpprime_y_zero_transform_bypass_flag
      if (r.bit()) {
        for (let i = 0; i < (chromaFormatIdc === 3 ? 12 : 8); i++) if (r.bit()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const picOrderCntType = r.ue();
    if (picOrderCntType === 0) r.ue();
    else if (picOrderCntType === 1) {
      r.bit();
      r.se();
      r.se();
      const cycle = r.ue();
      for (let i = 0; i < cycle; i++) r.se();
    }
    r.ue(); // max_num_ref_frames
    r.bit(); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = r.ue() + 1;
    const heightMapUnits = r.ue() + 1;
    const frameMbsOnly = r.bit();
    if (!frameMbsOnly) r.bit(); // mb_adaptive_frame_field_flag
    r.bit(); // direct_8x8_inference_flag
    let crop = { left: 0, right: 0, top: 0, bottom: 0 };
    if (r.bit()) crop = { left: r.ue(), right: r.ue(), top: r.ue(), bottom: r.ue() };
    const subWidth = chromaFormatIdc === 1 || chromaFormatIdc === 2 ? 2 : 1;
    const subHeight = chromaFormatIdc === 1 ? 2 : 1;
    const cropX = chromaFormatIdc === 0 ? 1 : subWidth;
    const cropY = (chromaFormatIdc === 0 ? 1 : subHeight) * (2 - frameMbsOnly);
    return {
      width: widthMbs * 16 - cropX * (crop.left + crop.right),
      height: (2 - frameMbsOnly) * heightMapUnits * 16 - cropY * (crop.top + crop.bottom),
    };
  } catch {
    return undefined;
  }
}

/** The size in an H.264 RTP payload carrying an SPS (single NAL unit or STAP-A); undefined otherwise. */
export function h264RtpSize(payload: Uint8Array): VideoSize | undefined {
  const type = (payload[0] ?? 0) & 0x1f;
  if (type === 7) return h264SpsSize(payload);
  if (type !== 24) return undefined;
  for (let i = 1; i + 2 < payload.length; ) {
    const size = ((payload[i] ?? 0) << 8) | (payload[i + 1] ?? 0);
    const nal = payload.subarray(i + 2, i + 2 + size);
    const found = h264SpsSize(nal);
    if (found) return found;
    i += 2 + size;
  }
  return undefined;
}

/** The size in a VP8 RTP payload that starts a key frame; undefined otherwise. */
export function vp8RtpSize(payload: Uint8Array): VideoSize | undefined {
  const first = payload[0];
  if (first === undefined) return undefined;
  const start = (first & 0x10) !== 0;
  const partition = first & 0x0f;
  if (!start || partition !== 0) return undefined;
  let i = 1;
  if (first & 0x80) {
    const ext = payload[i] ?? 0;
    i += 1;
    if (ext & 0x80) i += (payload[i] ?? 0) & 0x80 ? 2 : 1; // PictureID (7 or 15 bits)
    if (ext & 0x40) i += 1; // TL0PICIDX
    if (ext & 0x30) i += 1; // TID / KEYIDX
  }
  const frame = payload.subarray(i);
  if (frame.length < 10 || ((frame[0] ?? 1) & 0x01) !== 0) return undefined; // P bit 0: key frame
  if (frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return undefined;
  return {
    width: (((frame[7] ?? 0) << 8) | (frame[6] ?? 0)) & 0x3fff,
    height: (((frame[9] ?? 0) << 8) | (frame[8] ?? 0)) & 0x3fff,
  };
}
