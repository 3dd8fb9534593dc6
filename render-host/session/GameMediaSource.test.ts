import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createGameRuntime } from '../games/index.js';
import { GameMediaSource } from './GameMediaSource.js';

function countingGame() {
  const game = createGameRuntime({ game: 'neon-drift', seed: 3 });
  const counter = { steps: 0 };
  const step = game.step.bind(game);
  game.step = () => {
    counter.steps += 1;
    step();
  };
  return { game, counter };
}

describe('GameMediaSource at a quality rung', () => {
  test('its own size and rate by default: one game step per tick', () => {
    const { game, counter } = countingGame();
    const source = new GameMediaSource(game);
    assert.deepEqual([source.width, source.height, source.fps], [1280, 720, 60]);
    for (let i = 0; i < 60; i++) source.tick();
    assert.equal(counter.steps, 60);
    assert.equal(source.captureVideo().pixels.byteLength, 1280 * 720 * 4);
  });

  test('1080p60: the picture is drawn scaled to 1920×1080, the game unchanged', () => {
    const { game } = countingGame();
    const source = new GameMediaSource(game, { width: 1920, height: 1080, fps: 60 });
    source.tick();
    const frame = source.captureVideo();
    assert.deepEqual([frame.width, frame.height, frame.pixels.byteLength], [1920, 1080, 1920 * 1080 * 4]);
    // The arena's border reaches the bottom-right of the larger frame (drawn, not left black).
    const lit = (x: number, y: number) => {
      const o = (y * 1920 + x) * 4;
      return (frame.pixels[o] ?? 0) + (frame.pixels[o + 1] ?? 0) + (frame.pixels[o + 2] ?? 0);
    };
    let litPixels = 0;
    for (let y = 1000; y < 1080; y++) for (let x = 1800; x < 1920; x++) if (lit(x, y) > 60) litPixels++;
    assert.ok(litPixels > 50, `${litPixels} lit pixels near the bottom-right corner`);
  });

  test('720p120: every tick renders, the 60 Hz game steps every other tick', () => {
    const { game, counter } = countingGame();
    const source = new GameMediaSource(game, { width: 1280, height: 720, fps: 120 });
    assert.equal(source.fps, 120);
    for (let i = 0; i < 120; i++) source.tick();
    assert.equal(counter.steps, 60);
  });
});
