/**
 * The session's Opus encoder: node-av libopus, 48 kHz stereo s16, 20 ms frames, `lowdelay` application
 * (libopus's restricted low-delay mode: CELT only, ≈5 ms less algorithmic delay than `audio`).
 */
import {
  AV_CHANNEL_LAYOUT_STEREO,
  AV_SAMPLE_FMT_S16,
  AVERROR_EAGAIN,
  Codec,
  CodecContext,
  FF_ENCODER_LIBOPUS,
  FFmpegError,
  Frame,
  Packet,
  Rational,
} from 'node-av';
import { AthError } from '../../signaling/protocol/index.js';
import { RenderHostErrorCode } from '../errors.js';

export const OPUS_SAMPLE_RATE = 48_000;
export const OPUS_FRAME_SAMPLES = 960;
export const OPUS_CHANNELS = 2;

export type OpenAudioEncoderParameters = { bitrateBps: number };

export class AudioEncoder {
  readonly #ctx = new CodecContext();
  readonly #frame = new Frame();
  readonly #packet = new Packet();
  #closed = false;
  #busy = false;
  #resolveFreed: () => void = () => undefined;
  readonly #freed = new Promise<void>((resolve) => {
    this.#resolveFreed = resolve;
  });

  private constructor() {}

  static open({ bitrateBps }: OpenAudioEncoderParameters): AudioEncoder {
    const codec = Codec.findEncoderByName(FF_ENCODER_LIBOPUS);
    if (!codec) {
      throw new AthError({
        code: RenderHostErrorCode.audioEncoder,
        shortMessage: 'libopus is not in this FFmpeg build',
      });
    }
    const encoder = new AudioEncoder();
    const ctx = encoder.#ctx;
    ctx.allocContext3(codec);
    ctx.sampleRate = OPUS_SAMPLE_RATE;
    ctx.sampleFormat = AV_SAMPLE_FMT_S16;
    ctx.channelLayout = AV_CHANNEL_LAYOUT_STEREO;
    ctx.timeBase = new Rational(1, OPUS_SAMPLE_RATE);
    ctx.bitRate = BigInt(bitrateBps);
    for (const [key, value] of Object.entries({ application: 'lowdelay', frame_duration: '20', vbr: 'on' })) {
      const ret = ctx.setOption(key, value);
      if (ret < 0) {
        ctx.freeContext();
        throw new AthError({
          code: RenderHostErrorCode.audioEncoder,
          shortMessage: `libopus rejected ${key}=${value}`,
          details: FFmpegError.strerror(ret),
        });
      }
    }
    const ret = ctx.open2Sync(codec, null);
    if (ret < 0) {
      ctx.freeContext();
      throw new AthError({
        code: RenderHostErrorCode.audioEncoder,
        shortMessage: 'could not open libopus',
        details: FFmpegError.strerror(ret),
      });
    }
    encoder.#frame.alloc();
    encoder.#frame.nbSamples = OPUS_FRAME_SAMPLES;
    encoder.#frame.format = AV_SAMPLE_FMT_S16;
    encoder.#frame.sampleRate = OPUS_SAMPLE_RATE;
    encoder.#frame.channelLayout = AV_CHANNEL_LAYOUT_STEREO;
    FFmpegError.throwIfError(encoder.#frame.allocBuffer(), 'allocBuffer');
    encoder.#packet.alloc();
    return encoder;
  }

  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Encodes 20 ms (960 interleaved stereo s16 samples); returns the Opus packets that came out (libopus
   * has a fixed look-ahead, so the packet lags its input by a few ms but comes out one per frame).
   */
  async encode(pcm: Int16Array, pts: number): Promise<Buffer[]> {
    if (this.#closed) return [];
    if (pcm.length !== OPUS_FRAME_SAMPLES * OPUS_CHANNELS) {
      throw new AthError({ code: RenderHostErrorCode.audioEncoder, shortMessage: 'audio chunk must be 20 ms' });
    }
    this.#busy = true;
    try {
      FFmpegError.throwIfError(this.#frame.makeWritable(), 'makeWritable');
      this.#frame.fromBuffer(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
      this.#frame.pts = BigInt(pts);
      FFmpegError.throwIfError(await this.#ctx.sendFrame(this.#frame), 'sendFrame');
      const packets: Buffer[] = [];
      for (;;) {
        if (this.#closed) return packets;
        const ret = await this.#ctx.receivePacket(this.#packet);
        if (ret === AVERROR_EAGAIN) break;
        FFmpegError.throwIfError(ret, 'receivePacket');
        const data = this.#packet.data;
        if (data) packets.push(Buffer.from(data));
        this.#packet.unref();
      }
      return packets;
    } catch (error) {
      throw new AthError({ code: RenderHostErrorCode.audioEncoder, shortMessage: 'Opus encode failed', cause: error });
    } finally {
      this.#busy = false;
      if (this.#closed) this.#free();
    }
  }

  /** Frees the encoder once no chunk is in flight (see VideoEncoder.close). Idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      if (!this.#busy) this.#free();
    }
    return this.#freed;
  }

  #free(): void {
    this.#resolveFreed();
    this.#ctx.freeContext();
    this.#frame.free();
    this.#packet.free();
  }
}
