/**
 * The clip bench:peer sends: `frames` consecutive 1280×720 RGBA frames of Neon Drift (a seeded game with the
 * ship steered in a loop, so every frame differs), one raw file per frame (`frame00000.rgba` …) — the layout
 * both senders read: GStreamer's multifilesrc and ath-edge's ClipMediaSource each read one file per frame.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCanvas } from '@napi-rs/canvas';
import { createGameRuntime } from '../../../render-host/games/createGameRuntime.js';
import { KeyInput, keyIdFromCode } from '../../../signaling/protocol/index.js';

export type RecordClipParameters = { directory: string; frames: number };
export type RecordClipReturnType = { width: number; height: number; fps: number; frames: number; pattern: string };

export function recordClip({ directory, frames }: RecordClipParameters): RecordClipReturnType {
  mkdirSync(directory, { recursive: true });
  const game = createGameRuntime({ game: 'neon-drift', seed: 17 });
  const { width, height, fps } = game.info;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  const keys = ['ArrowRight', 'ArrowDown', 'ArrowLeft', 'ArrowUp'];
  let seq = 0;
  for (let i = 0; i < frames; i++) {
    // A quarter second per direction: the ship circles, the starfield scrolls.
    if (i % 15 === 0) {
      const previous = keys[(i / 15 - 1 + keys.length) % keys.length] ?? 'ArrowUp';
      const next = keys[(i / 15) % keys.length] ?? 'ArrowRight';
      if (i > 0) game.applyInput(new KeyInput(++seq, keyIdFromCode(previous) ?? 0, false));
      game.applyInput(new KeyInput(++seq, keyIdFromCode(next) ?? 0, true));
    }
    game.step();
    game.render(ctx);
    writeFileSync(join(directory, `frame${String(i).padStart(5, '0')}.rgba`), canvas.data());
  }
  return { width, height, fps, frames, pattern: join(directory, 'frame%05d.rgba') };
}
