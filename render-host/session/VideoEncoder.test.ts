import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { AV_CODEC_ID_H264, AVERROR_EAGAIN, Codec, CodecContext, Frame, Packet } from 'node-av';
import { AudioEncoder, OPUS_FRAME_SAMPLES } from './AudioEncoder.js';
import { detectH264Encoder, openVideoEncoder, type PixelLayout, type VideoEncoder } from './VideoEncoder.js';

/**
 * An NVIDIA GPU with its driver loaded: the device nodes the driver creates. Where one exists NVENC must be the
 * encoder used; the libx264 fallback is asserted only where none does.
 */
const NVIDIA_GPU = existsSync('/dev/nvidiactl') && existsSync('/dev/nvidia0');

const WIDTH = 320;
const HEIGHT = 180;

/** A moving gradient: cheap to make, and every frame differs. */
function frame(index: number): Uint8Array {
  const pixels = new Uint8Array(WIDTH * HEIGHT * 4);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const o = (y * WIDTH + x) * 4;
      pixels[o] = (x + index * 4) & 255;
      pixels[o + 1] = (y * 2 + index) & 255;
      pixels[o + 2] = (x ^ y) & 255;
      pixels[o + 3] = 255;
    }
  }
  return pixels;
}

/** NAL unit types in an Annex-B access unit. */
function nalTypes(data: Buffer): number[] {
  const types: number[] = [];
  for (let i = 0; i + 3 < data.length; i++) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) types.push((data[i + 3] ?? 0) & 0x1f);
  }
  return types;
}

/** One colour over the whole frame, in either byte order. */
function solid([r, g, b]: readonly [number, number, number], layout: PixelLayout = 'rgba'): Uint8Array {
  const pixels = new Uint8Array(WIDTH * HEIGHT * 4);
  const [first, third] = layout === 'rgba' ? [r, b] : [b, r];
  for (let o = 0; o < pixels.length; o += 4) {
    pixels[o] = first;
    pixels[o + 1] = g;
    pixels[o + 2] = third;
    pixels[o + 3] = 255;
  }
  return pixels;
}

/** What BT.601 limited range (FFmpeg's default RGB → YUV) makes of a colour. */
function bt601([r, g, b]: readonly [number, number, number]): [number, number, number] {
  return [
    16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255,
    128 + (-37.797 * r - 74.203 * g + 112 * b) / 255,
    128 + (112 * r - 93.786 * g - 18.214 * b) / 255,
  ];
}

/** Decodes H.264 access units with FFmpeg's decoder; the Y, U and V samples at the middle of each picture. */
function decodeCentres(units: readonly Buffer[]): Array<[number, number, number]> {
  const codec = Codec.findDecoder(AV_CODEC_ID_H264);
  assert.ok(codec, 'an H.264 decoder');
  const ctx = new CodecContext();
  ctx.allocContext3(codec);
  const packet = new Packet();
  const picture = new Frame();
  packet.alloc();
  picture.alloc();
  try {
    assert.equal(ctx.open2Sync(codec, null), 0);
    const centres: Array<[number, number, number]> = [];
    const drain = () => {
      while (ctx.receiveFrameSync(picture) >= 0) {
        const [y, u, v] = picture.data ?? [];
        const [ys = 0, us = 0, vs = 0] = picture.linesize;
        const row = Math.floor(picture.height / 2);
        const col = Math.floor(picture.width / 2);
        centres.push([
          y?.[row * ys + col] ?? -1,
          u?.[(row >> 1) * us + (col >> 1)] ?? -1,
          v?.[(row >> 1) * vs + (col >> 1)] ?? -1,
        ]);
        picture.unref();
      }
    };
    for (const unit of units) {
      packet.data = unit;
      const ret = ctx.sendPacketSync(packet);
      assert.ok(ret >= 0 || ret === AVERROR_EAGAIN, `decoder refused a packet (${ret})`);
      packet.unref();
      drain();
    }
    ctx.sendPacketSync(null);
    drain();
    return centres;
  } finally {
    packet.free();
    picture.free();
    ctx.freeContext();
  }
}

async function encodeSeries(encoder: VideoEncoder, count: number, keyAt: Set<number>) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const encoded = await encoder.encode({
      pixels: frame(i),
      layout: 'rgba',
      pts90k: i * 1500,
      keyframe: keyAt.has(i),
    });
    out.push(encoded);
  }
  return out;
}

describe('VideoEncoder', () => {
  test('H.264 (auto): NVENC where a GPU is, else libx264; one packet per frame, IDR with SPS/PPS on request', async () => {
    const { encoder, failures } = openVideoEncoder({
      codec: 'H264',
      width: WIDTH,
      height: HEIGHT,
      fps: 60,
      bitrateBps: 1_000_000,
      prefer: 'auto',
    });
    try {
      if (NVIDIA_GPU) {
        assert.equal(encoder.name, 'h264_nvenc', `NVENC did not open: ${failures.map((f) => f.error.message)}`);
        assert.deepEqual(failures, []);
      } else {
        // No GPU: NVENC must fail to open and say so, libx264 must take over.
        assert.equal(encoder.name, 'libx264');
        assert.deepEqual(
          failures.map((f) => [f.name, f.error.code]),
          [['h264_nvenc', 'ATH_ERR_ENCODER_OPEN']],
        );
      }
      const frames = await encodeSeries(encoder, 30, new Set([20]));
      assert.ok(
        frames.every((f) => f !== null),
        'one frame in → one packet out, no lookahead',
      );
      const keyframes = frames.flatMap((f, i) => (f?.keyframe ? [i] : []));
      assert.deepEqual(keyframes, [0, 20]);
      const idr = frames[20]?.data ?? assert.fail();
      assert.deepEqual(nalTypes(idr).slice(0, 3), [7, 8, 5], 'SPS, PPS, IDR slice');
      const sps = idr.subarray(idr.indexOf(Buffer.from([0, 0, 1, 0x67])) + 4);
      assert.equal(sps[0], 66, 'baseline profile_idc');
      assert.ok(((sps[1] ?? 0) & 0x40) !== 0, 'constraint_set1: constrained baseline');
      assert.equal(sps[2], 31, 'level_idc 3.1 for 320×180@60, as the offer states');
      assert.ok(!nalTypes(frames[10]?.data ?? Buffer.alloc(0)).includes(5), 'P frames carry no IDR');
    } finally {
      await encoder.close();
      await encoder.close();
    }
  });

  test('H.264 (libx264): every frame decodes to the colours it was given', async () => {
    // Catches a wrong input layout (x264 is fed NV12: U and V interleaved; sources give RGBA or BGRA) and stale
    // planes (the encoder keeps the frame's plane buffers between frames): a swapped or missing chroma, or the
    // previous frame's picture.
    const colours = [
      [230, 40, 30],
      [20, 200, 60],
      [40, 60, 220],
      [240, 220, 40],
      [128, 128, 128],
      [20, 200, 220],
    ] as const;
    const { encoder } = openVideoEncoder({
      codec: 'H264',
      width: WIDTH,
      height: HEIGHT,
      fps: 60,
      bitrateBps: 2_000_000,
      prefer: 'x264',
    });
    const units: Buffer[] = [];
    try {
      for (const [i, colour] of colours.entries()) {
        const layout = i % 2 === 0 ? 'rgba' : 'bgra';
        // The last two frames are put straight into the encoder's input, as X11 capture does.
        const input = encoder.inputBuffer;
        assert.ok(input, 'x264 converts in place');
        const pixels = i >= colours.length - 2 ? input : solid(colour, layout);
        if (pixels === input) input.set(solid(colour, layout));
        const encoded = await encoder.encode({
          pixels,
          layout,
          pts90k: i * 1500,
          keyframe: i === 0,
        });
        assert.ok(encoded, `frame ${i} encoded`);
        units.push(encoded.data);
      }
    } finally {
      await encoder.close();
    }
    const centres = decodeCentres(units);
    assert.equal(centres.length, colours.length);
    for (const [i, colour] of colours.entries()) {
      const expected = bt601(colour);
      const got = centres[i] ?? [];
      for (const [plane, name] of ['Y', 'U', 'V'].entries()) {
        const diff = Math.abs((got[plane] ?? 0) - (expected[plane] ?? 0));
        assert.ok(diff <= 6, `frame ${i} ${name}: ${got[plane]} for ${expected[plane]?.toFixed(1)} (rgb ${colour})`);
      }
    }
  });

  test('H.264 bitrate changes between frames (x264 reconfigures in place)', async () => {
    const { encoder } = openVideoEncoder({
      codec: 'H264',
      width: WIDTH,
      height: HEIGHT,
      fps: 60,
      bitrateBps: 2_000_000,
      prefer: 'x264',
    });
    try {
      await encodeSeries(encoder, 5, new Set());
      encoder.setBitrate(300_000);
      assert.equal(encoder.bitrateBps, 300_000);
      const after = await encodeSeries(encoder, 5, new Set());
      assert.ok(
        after.every((f) => f && !f.keyframe),
        'a bitrate change costs no keyframe',
      );
    } finally {
      await encoder.close();
    }
  });

  test('VP8: libvpx, keyframe on request, encoded on the calling thread', async () => {
    const { encoder } = openVideoEncoder({
      codec: 'VP8',
      width: WIDTH,
      height: HEIGHT,
      fps: 60,
      bitrateBps: 1_000_000,
      prefer: 'auto',
    });
    try {
      assert.equal(encoder.name, 'libvpx');
      const frames = await encodeSeries(encoder, 12, new Set([8]));
      assert.ok(frames.every((f) => f !== null));
      assert.deepEqual(
        frames.flatMap((f, i) => (f?.keyframe ? [i] : [])),
        [0, 8],
      );
      // VP8 key frames start with the 3-byte start code 9d 01 2a after the 3-byte frame tag.
      assert.deepEqual([...(frames[8]?.data.subarray(3, 6) ?? [])], [0x9d, 0x01, 0x2a]);
      // Up to 720p60 software encoders encode inside the call (on the session's thread, not the pool): done when
      // it returns, so the next frame is taken at once. (Only encoders on the pool are ever busy between frames.)
      const pending = encoder.encode({ pixels: frame(99), layout: 'rgba', pts90k: 99 * 1500, keyframe: false });
      assert.equal(encoder.busy, false);
      const next = encoder.encode({ pixels: frame(100), layout: 'rgba', pts90k: 100 * 1500, keyframe: false });
      assert.ok((await pending) !== null && (await next) !== null);
    } finally {
      await encoder.close();
    }
  });

  test('x264 encodes on the calling thread up to 720p60, on the pool above (busy meanwhile: frames refused)', async () => {
    const inline = openVideoEncoder({
      codec: 'H264',
      width: 1280,
      height: 720,
      fps: 60,
      bitrateBps: 4_000_000,
      prefer: 'x264',
    });
    const pool = openVideoEncoder({
      codec: 'H264',
      width: 1920,
      height: 1080,
      fps: 60,
      bitrateBps: 8_000_000,
      prefer: 'x264',
    });
    try {
      const hd = new Uint8Array(1280 * 720 * 4).fill(80);
      const first = inline.encoder.encode({ pixels: hd, layout: 'rgba', pts90k: 0, keyframe: true });
      assert.equal(inline.encoder.busy, false, 'a 720p60 frame is encoded by the time encode() returns');
      assert.ok((await first)?.keyframe);
      const fullHd = new Uint8Array(1920 * 1080 * 4).fill(80);
      const pending = pool.encoder.encode({ pixels: fullHd, layout: 'rgba', pts90k: 0, keyframe: true });
      assert.equal(pool.encoder.busy, true, 'a 1080p60 frame is on the pool');
      await assert.rejects(pool.encoder.encode({ pixels: fullHd, layout: 'rgba', pts90k: 1500, keyframe: false }), {
        code: 'ATH_ERR_ENCODE',
      });
      assert.ok((await pending)?.keyframe);
      assert.equal(pool.encoder.busy, false);
    } finally {
      await inline.encoder.close();
      await pool.encoder.close();
    }
  });

  test('rejects frames of the wrong size', async () => {
    const { encoder } = openVideoEncoder({
      codec: 'H264',
      width: 64,
      height: 64,
      fps: 60,
      bitrateBps: 200_000,
      prefer: 'x264',
    });
    try {
      await assert.rejects(encoder.encode({ pixels: new Uint8Array(10), layout: 'rgba', pts90k: 0, keyframe: false }), {
        code: 'ATH_ERR_ENCODE',
      });
    } finally {
      await encoder.close();
    }
  });
});

describe('the H.264 encoder a host registers', () => {
  test('is the one that opens: NVENC where a GPU is, libx264 elsewhere; x264 when asked for', async () => {
    const auto = await detectH264Encoder('auto');
    assert.equal(auto.name, NVIDIA_GPU ? 'h264_nvenc' : 'libx264');
    const x264 = await detectH264Encoder('x264');
    assert.equal(x264.name, 'libx264');
    assert.deepEqual(x264.failures, []);
  });

  test('the SPS level follows width × height × fps (1080p60 → 4.2, 720p120 → 4.2, 720p60 → 3.2)', async () => {
    for (const [width, height, fps, levelIdc] of [
      [1920, 1080, 60, 42],
      [1280, 720, 120, 42],
      [1280, 720, 60, 32],
    ] as const) {
      const { encoder } = openVideoEncoder({
        codec: 'H264',
        width,
        height,
        fps,
        bitrateBps: 4_000_000,
        prefer: 'x264',
      });
      try {
        const pixels = new Uint8Array(width * height * 4).fill(90);
        const out = await encoder.encode({ pixels, layout: 'rgba', pts90k: 0, keyframe: true });
        const data = out?.data ?? assert.fail('no packet');
        const sps = data.subarray(data.indexOf(Buffer.from([0, 0, 1, 0x67])) + 4);
        assert.equal(sps[2], levelIdc, `${width}×${height}@${fps}`);
      } finally {
        await encoder.close();
      }
    }
  });
});

describe('AudioEncoder', () => {
  test('encodes 20 ms chunks of 48 kHz stereo into one Opus packet each', async () => {
    const encoder = AudioEncoder.open({ bitrateBps: 96_000 });
    try {
      const pcm = new Int16Array(OPUS_FRAME_SAMPLES * 2);
      let packets = 0;
      for (let chunk = 0; chunk < 10; chunk++) {
        for (let i = 0; i < OPUS_FRAME_SAMPLES; i++) {
          const v = Math.round(8000 * Math.sin(((chunk * OPUS_FRAME_SAMPLES + i) * 2 * Math.PI * 440) / 48_000));
          pcm[2 * i] = v;
          pcm[2 * i + 1] = v;
        }
        const out = await encoder.encode(pcm, chunk * OPUS_FRAME_SAMPLES);
        for (const packet of out) {
          // TOC config 31 = CELT-only, fullband, 20 ms: the restricted low-delay mode (no SILK, no hybrid).
          assert.equal((packet[0] ?? 0) >> 3, 31, 'CELT fullband 20 ms');
        }
        packets += out.length;
      }
      assert.ok(packets >= 9, `one packet per 20 ms: ${packets}`);
      await assert.rejects(encoder.encode(new Int16Array(10), 0), { code: 'ATH_ERR_AUDIO_ENCODER' });
    } finally {
      await encoder.close();
    }
  });
});
