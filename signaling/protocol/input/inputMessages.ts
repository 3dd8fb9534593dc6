/**
 * The binary input format on the data channels (browser → render host), and the ping/pong used to measure
 * RTT on the same path. Little-endian, fixed size per kind:
 *
 *   byte 0      kind (InputKind)
 *   bytes 1..4  u32 seq — per-session input sequence; the host stamps the last applied seq into each frame
 *   rest        kind-specific payload (see each class)
 *
 * Key and button edges go on the reliable ordered channel; pointer moves and gamepad snapshots may go on an
 * unreliable unordered one (a lost snapshot is superseded by the next).
 */
import { AthError } from '../AthError.js';

export const InputKind = {
  Key: 1,
  PointerMove: 2,
  PointerDelta: 3,
  PointerButton: 4,
  Wheel: 5,
  Gamepad: 6,
  Ping: 16,
  Pong: 17,
  FrameMark: 18,
  StreamInfo: 19,
} as const;

export type InputKindValue = (typeof InputKind)[keyof typeof InputKind];

const HEADER_BYTES = 5;

function header(kind: InputKindValue, seq: number, payloadBytes: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(HEADER_BYTES + payloadBytes);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, kind);
  view.setUint32(1, seq >>> 0, true);
  return { bytes, view };
}

function reader(bytes: Uint8Array, kind: InputKindValue, size: number): DataView {
  if (bytes.byteLength !== size) {
    throw new AthError({
      code: 'ATH_ERR_BAD_INPUT',
      shortMessage: 'input message has the wrong size',
      details: `kind ${kind}: ${bytes.byteLength} bytes, expected ${size}`,
    });
  }
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function clampInt(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.round(value)));
}

/** A key edge. payload: u16 key id (see keyCodes.ts), u8 flags (bit 0 = down). */
export class KeyInput {
  static readonly kind = InputKind.Key;
  static readonly size = HEADER_BYTES + 3;
  constructor(
    readonly seq: number,
    readonly key: number,
    readonly down: boolean,
  ) {}
  serialize(): Uint8Array {
    const { bytes, view } = header(KeyInput.kind, this.seq, 3);
    view.setUint16(5, this.key, true);
    view.setUint8(7, this.down ? 1 : 0);
    return bytes;
  }
  static deserialize(bytes: Uint8Array): KeyInput {
    const view = reader(bytes, KeyInput.kind, KeyInput.size);
    return new KeyInput(view.getUint32(1, true), view.getUint16(5, true), (view.getUint8(7) & 1) === 1);
  }
}

/** Absolute pointer position. payload: u16 x, u16 y, normalised to 0..65535 across the video. */
export class PointerMoveInput {
  static readonly kind = InputKind.PointerMove;
  static readonly size = HEADER_BYTES + 4;
  constructor(
    readonly seq: number,
    readonly x: number,
    readonly y: number,
  ) {}
  serialize(): Uint8Array {
    const { bytes, view } = header(PointerMoveInput.kind, this.seq, 4);
    view.setUint16(5, clampInt(this.x, 0, 65535), true);
    view.setUint16(7, clampInt(this.y, 0, 65535), true);
    return bytes;
  }
  static deserialize(bytes: Uint8Array): PointerMoveInput {
    const view = reader(bytes, PointerMoveInput.kind, PointerMoveInput.size);
    return new PointerMoveInput(view.getUint32(1, true), view.getUint16(5, true), view.getUint16(7, true));
  }
}

/** Relative pointer motion under pointer lock. payload: i16 dx, i16 dy in CSS pixels. */
export class PointerDeltaInput {
  static readonly kind = InputKind.PointerDelta;
  static readonly size = HEADER_BYTES + 4;
  constructor(
    readonly seq: number,
    readonly dx: number,
    readonly dy: number,
  ) {}
  serialize(): Uint8Array {
    const { bytes, view } = header(PointerDeltaInput.kind, this.seq, 4);
    view.setInt16(5, clampInt(this.dx, -32768, 32767), true);
    view.setInt16(7, clampInt(this.dy, -32768, 32767), true);
    return bytes;
  }
  static deserialize(bytes: Uint8Array): PointerDeltaInput {
    const view = reader(bytes, PointerDeltaInput.kind, PointerDeltaInput.size);
    return new PointerDeltaInput(view.getUint32(1, true), view.getInt16(5, true), view.getInt16(7, true));
  }
}

/** A mouse button edge. payload: u8 button (0 left, 1 middle, 2 right, …), u8 down. */
export class PointerButtonInput {
  static readonly kind = InputKind.PointerButton;
  static readonly size = HEADER_BYTES + 2;
  constructor(
    readonly seq: number,
    readonly button: number,
    readonly down: boolean,
  ) {}
  serialize(): Uint8Array {
    const { bytes, view } = header(PointerButtonInput.kind, this.seq, 2);
    view.setUint8(5, clampInt(this.button, 0, 255));
    view.setUint8(6, this.down ? 1 : 0);
    return bytes;
  }
  static deserialize(bytes: Uint8Array): PointerButtonInput {
    const view = reader(bytes, PointerButtonInput.kind, PointerButtonInput.size);
    return new PointerButtonInput(view.getUint32(1, true), view.getUint8(5), (view.getUint8(6) & 1) === 1);
  }
}

/** Wheel motion. payload: i16 dx, i16 dy (CSS pixels, clamped). */
export class WheelInput {
  static readonly kind = InputKind.Wheel;
  static readonly size = HEADER_BYTES + 4;
  constructor(
    readonly seq: number,
    readonly dx: number,
    readonly dy: number,
  ) {}
  serialize(): Uint8Array {
    const { bytes, view } = header(WheelInput.kind, this.seq, 4);
    view.setInt16(5, clampInt(this.dx, -32768, 32767), true);
    view.setInt16(7, clampInt(this.dy, -32768, 32767), true);
    return bytes;
  }
  static deserialize(bytes: Uint8Array): WheelInput {
    const view = reader(bytes, WheelInput.kind, WheelInput.size);
    return new WheelInput(view.getUint32(1, true), view.getInt16(5, true), view.getInt16(7, true));
  }
}

/**
 * A gamepad snapshot (W3C standard mapping). payload: u8 pad index, u32 pressed-buttons bitmask
 * (bit i = buttons[i]), 4 × i16 axes scaled from -1..1 to -32767..32767, 2 × u8 analog triggers (0..255).
 */
export class GamepadInput {
  static readonly kind = InputKind.Gamepad;
  static readonly size = HEADER_BYTES + 1 + 4 + 8 + 2;
  constructor(
    readonly seq: number,
    readonly pad: number,
    readonly buttons: number,
    readonly axes: readonly [number, number, number, number],
    readonly triggers: readonly [number, number],
  ) {}
  serialize(): Uint8Array {
    const { bytes, view } = header(GamepadInput.kind, this.seq, 15);
    view.setUint8(5, clampInt(this.pad, 0, 255));
    view.setUint32(6, this.buttons >>> 0, true);
    for (const [i, axis] of this.axes.entries()) view.setInt16(10 + i * 2, clampInt(axis, -32767, 32767), true);
    view.setUint8(18, clampInt(this.triggers[0], 0, 255));
    view.setUint8(19, clampInt(this.triggers[1], 0, 255));
    return bytes;
  }
  static deserialize(bytes: Uint8Array): GamepadInput {
    const view = reader(bytes, GamepadInput.kind, GamepadInput.size);
    const axes = [0, 1, 2, 3].map((i) => view.getInt16(10 + i * 2, true)) as [number, number, number, number];
    return new GamepadInput(view.getUint32(1, true), view.getUint8(5), view.getUint32(6, true), axes, [
      view.getUint8(18),
      view.getUint8(19),
    ]);
  }
}

/** RTT probe on the data channel. The seq field carries the ping id; payload: f64 sender clock (ms). */
export class PingInput {
  static readonly kind = InputKind.Ping;
  static readonly size = HEADER_BYTES + 8;
  constructor(
    readonly id: number,
    readonly sentAtMs: number,
  ) {}
  serialize(): Uint8Array {
    const { bytes, view } = header(PingInput.kind, this.id, 8);
    view.setFloat64(5, this.sentAtMs, true);
    return bytes;
  }
  static deserialize(bytes: Uint8Array): PingInput {
    const view = reader(bytes, PingInput.kind, PingInput.size);
    return new PingInput(view.getUint32(1, true), view.getFloat64(5, true));
  }
}

/** The host's echo of a ping: same id and sender clock, so the sender computes RTT on its own clock. */
export class PongInput {
  static readonly kind = InputKind.Pong;
  static readonly size = HEADER_BYTES + 8;
  constructor(
    readonly id: number,
    readonly sentAtMs: number,
  ) {}
  serialize(): Uint8Array {
    const { bytes, view } = header(PongInput.kind, this.id, 8);
    view.setFloat64(5, this.sentAtMs, true);
    return bytes;
  }
  static deserialize(bytes: Uint8Array): PongInput {
    const view = reader(bytes, PongInput.kind, PongInput.size);
    return new PongInput(view.getUint32(1, true), view.getFloat64(5, true));
  }
}

/**
 * Host → player, on the `input` channel: the frame with RTP timestamp `rtpTimestamp` is the first one in which
 * input `seq` (and every input before it) took effect. The player matches it with the presented frame whose
 * `requestVideoFrameCallback` metadata carries that RTP timestamp (or the first later one, if that frame was
 * never shown): input sent → that frame presented is one input→photon sample, with nothing drawn into the
 * picture. Sent for the first frame of each leg (so the player learns the mapping) and for every frame in which
 * a new input took effect. payload: u32 RTP timestamp, u32 frame number (counts ticks across legs; a gap is a
 * frame the host dropped).
 */
export class FrameMarkInput {
  static readonly kind = InputKind.FrameMark;
  static readonly size = HEADER_BYTES + 8;
  constructor(
    readonly seq: number,
    readonly rtpTimestamp: number,
    readonly frame: number,
  ) {}
  serialize(): Uint8Array {
    const { bytes, view } = header(FrameMarkInput.kind, this.seq, 8);
    view.setUint32(5, this.rtpTimestamp >>> 0, true);
    view.setUint32(9, this.frame >>> 0, true);
    return bytes;
  }
  static deserialize(bytes: Uint8Array): FrameMarkInput {
    const view = reader(bytes, FrameMarkInput.kind, FrameMarkInput.size);
    return new FrameMarkInput(view.getUint32(1, true), view.getUint32(5, true), view.getUint32(9, true));
  }
}

/** The host's video encoders, as `StreamInfoInput` names them on the wire. */
export const STREAM_ENCODERS = ['libx264', 'h264_nvenc', 'libvpx'] as const;
export type StreamEncoderName = (typeof STREAM_ENCODERS)[number];

/**
 * Host → player, on the `input` channel, with the first frame mark of a leg and then once a second: the encoder
 * actually encoding this stream (NVENC or its software fallback), the encoded size and frame rate. The stats
 * overlay shows it. seq: 0. payload: u8 encoder (1 libx264, 2 h264_nvenc, 3 libvpx), u16 width, u16 height,
 * u16 fps.
 */
export class StreamInfoInput {
  static readonly kind = InputKind.StreamInfo;
  static readonly size = HEADER_BYTES + 7;
  constructor(
    readonly encoder: StreamEncoderName,
    readonly width: number,
    readonly height: number,
    readonly fps: number,
  ) {}
  serialize(): Uint8Array {
    const { bytes, view } = header(StreamInfoInput.kind, 0, 7);
    view.setUint8(5, STREAM_ENCODERS.indexOf(this.encoder) + 1);
    view.setUint16(6, clampInt(this.width, 0, 65535), true);
    view.setUint16(8, clampInt(this.height, 0, 65535), true);
    view.setUint16(10, clampInt(this.fps, 0, 65535), true);
    return bytes;
  }
  static deserialize(bytes: Uint8Array): StreamInfoInput {
    const view = reader(bytes, StreamInfoInput.kind, StreamInfoInput.size);
    const encoder = STREAM_ENCODERS[view.getUint8(5) - 1];
    if (!encoder) {
      throw new AthError({
        code: 'ATH_ERR_BAD_INPUT',
        shortMessage: 'unknown encoder',
        details: String(view.getUint8(5)),
      });
    }
    return new StreamInfoInput(encoder, view.getUint16(6, true), view.getUint16(8, true), view.getUint16(10, true));
  }
}

export type InputMessage =
  | KeyInput
  | PointerMoveInput
  | PointerDeltaInput
  | PointerButtonInput
  | WheelInput
  | GamepadInput
  | PingInput
  | PongInput
  | FrameMarkInput
  | StreamInfoInput;

const decoders: Record<number, (bytes: Uint8Array) => InputMessage> = {
  [InputKind.Key]: KeyInput.deserialize,
  [InputKind.PointerMove]: PointerMoveInput.deserialize,
  [InputKind.PointerDelta]: PointerDeltaInput.deserialize,
  [InputKind.PointerButton]: PointerButtonInput.deserialize,
  [InputKind.Wheel]: WheelInput.deserialize,
  [InputKind.Gamepad]: GamepadInput.deserialize,
  [InputKind.Ping]: PingInput.deserialize,
  [InputKind.Pong]: PongInput.deserialize,
  [InputKind.FrameMark]: FrameMarkInput.deserialize,
  [InputKind.StreamInfo]: StreamInfoInput.deserialize,
};

/** Decodes one data-channel message; throws AthError `ATH_ERR_BAD_INPUT` for anything malformed. */
export function decodeInput(data: Uint8Array | ArrayBuffer): InputMessage {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.byteLength < HEADER_BYTES) {
    throw new AthError({ code: 'ATH_ERR_BAD_INPUT', shortMessage: 'input message shorter than its header' });
  }
  const decode = decoders[bytes[0] ?? 0];
  if (!decode) {
    throw new AthError({ code: 'ATH_ERR_BAD_INPUT', shortMessage: 'unknown input kind', details: String(bytes[0]) });
  }
  return decode(bytes);
}
