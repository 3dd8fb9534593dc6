import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCanvas } from '@napi-rs/canvas';
import {
  GamepadInput,
  KeyInput,
  keyIdFromCode,
  PointerButtonInput,
  PointerMoveInput,
  WheelInput,
} from '../../../signaling/protocol/index.js';
import { createGameRuntime } from '../createGameRuntime.js';
import type { GameInputMessage } from '../GameRuntime.js';
import { drawNeonDrift, NeonDriftHud } from './drawNeonDrift.js';
import { NeonDrift } from './NeonDrift.js';
import { createNeonDriftState, stepNeonDrift } from './neonDriftState.js';

const key = (code: string) => keyIdFromCode(code) ?? assert.fail(`no key ${code}`);

/** A scripted session: inputs at fixed ticks, every kind of control, long enough to collect and get hit. */
function script(): Map<number, GameInputMessage[]> {
  const at = new Map<number, GameInputMessage[]>();
  let seq = 0;
  const push = (tick: number, message: (seq: number) => GameInputMessage) => {
    at.set(tick, [...(at.get(tick) ?? []), message(++seq)]);
  };
  push(5, (s) => new KeyInput(s, key('ArrowRight'), true));
  push(40, (s) => new KeyInput(s, key('Space'), true));
  push(42, (s) => new KeyInput(s, key('Space'), false));
  push(60, (s) => new KeyInput(s, key('ArrowRight'), false));
  push(61, (s) => new KeyInput(s, key('KeyS'), true));
  push(120, (s) => new KeyInput(s, key('KeyS'), false));
  push(121, (s) => new PointerMoveInput(s, 60000, 8000));
  push(122, (s) => new PointerButtonInput(s, 0, true));
  push(200, (s) => new PointerButtonInput(s, 0, false));
  push(201, (s) => new GamepadInput(s, 0, 0, [-32767, 20000, 0, 0], [0, 0]));
  push(260, (s) => new GamepadInput(s, 0, 1, [0, 0, 0, 0], [0, 0]));
  push(300, (s) => new WheelInput(s, 0, 120));
  for (let tick = 320; tick < 1800; tick += 37) {
    const dir = ['ArrowUp', 'ArrowLeft', 'ArrowDown', 'ArrowRight'][((tick / 37) % 4) | 0] ?? 'ArrowUp';
    push(tick, (s) => new KeyInput(s, key(dir), true));
    push(tick + 30, (s) => new KeyInput(s, key(dir), false));
  }
  return at;
}

function play(seed: number, ticks: number, inputs = script()): NeonDrift {
  const game = new NeonDrift({ seed });
  for (let tick = 0; tick < ticks; tick++) {
    for (const message of inputs.get(tick) ?? []) game.applyInput(message);
    game.step();
  }
  return game;
}

describe('Neon Drift', () => {
  test('is deterministic: the same seed and input script give the same state hash', () => {
    const a = play(42, 1800);
    const b = play(42, 1800);
    assert.equal(a.tick, 1800);
    assert.equal(a.stateHash(), b.stateHash());
    assert.ok(a.state.score > 0 || a.state.lives < 3, 'the script should score or get hit: it exercises the game');
    assert.notEqual(play(43, 1800).stateHash(), a.stateHash(), 'another seed gives another game');
  });

  test('rendering and audio do not feed back into the state', () => {
    const a = play(7, 300);
    const b = new NeonDrift({ seed: 7 });
    const ctx = createCanvas(1280, 720).getContext('2d');
    const inputs = script();
    const pcm = new Int16Array(1920);
    for (let tick = 0; tick < 300; tick++) {
      for (const message of inputs.get(tick) ?? []) b.applyInput(message);
      b.step();
      b.render(ctx);
      b.renderAudio(pcm, tick * 960);
    }
    assert.equal(b.stateHash(), a.stateHash());
  });

  test('a key press moves the ship and is counted as applied input', () => {
    const game = new NeonDrift({ seed: 1 });
    for (let i = 0; i < 10; i++) game.step();
    const x0 = game.state.ship.x;
    game.applyInput(new KeyInput(17, key('ArrowRight'), true));
    assert.equal(game.lastInputSeq, 17);
    for (let i = 0; i < 20; i++) game.step();
    assert.ok(game.state.ship.x > x0 + 20, `ship should move right: ${x0} → ${game.state.ship.x}`);
    const y0 = game.state.ship.y;
    game.applyInput(new KeyInput(18, key('ArrowRight'), false));
    game.applyInput(new GamepadInput(19, 0, 0, [0, 32767, 0, 0], [0, 0]));
    for (let i = 0; i < 20; i++) game.step();
    assert.ok(game.state.ship.y > y0 + 20, 'the left stick moves the ship down');
  });

  test('mouse steering pulls the ship toward the pointer while the left button is held', () => {
    const game = new NeonDrift({ seed: 3 });
    game.applyInput(new PointerMoveInput(1, 0, 32767));
    for (let i = 0; i < 30; i++) game.step();
    const x0 = game.state.ship.x;
    assert.ok(Math.abs(x0 - 640) < 1, 'pointer alone does not steer');
    game.applyInput(new PointerButtonInput(2, 0, true));
    for (let i = 0; i < 30; i++) game.step();
    assert.ok(game.state.ship.x < x0 - 20, 'held left button steers left toward the pointer');
  });

  test('stale pointer and gamepad snapshots (older seq, unordered channel) are ignored', () => {
    const game = new NeonDrift({ seed: 3 });
    game.applyInput(new PointerMoveInput(10, 65535, 0));
    game.applyInput(new PointerMoveInput(9, 0, 65535));
    assert.equal(Math.round(game.state.controls.pointerX), 1280);
    assert.equal(game.lastInputSeq, 10);
  });

  test('snapshot and restore resume the exact game', () => {
    const inputs = script();
    const a = play(99, 900, inputs);
    const b = createGameRuntime({ game: 'neon-drift', seed: 1 });
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    assert.equal(b.stateHash(), a.stateHash());
    for (let tick = 900; tick < 1200; tick++) {
      for (const message of inputs.get(tick) ?? []) {
        a.applyInput(message);
        b.applyInput(message);
      }
      a.step();
      b.step();
    }
    assert.equal(b.stateHash(), a.stateHash());
    assert.throws(() => b.restore({ game: 'neon-drift', version: 1, state: { tick: -1 } }), {
      code: 'ATH_ERR_BAD_SNAPSHOT',
    });
    assert.throws(() => createGameRuntime({ game: 'pong', seed: 1 }), { code: 'ATH_ERR_UNKNOWN_GAME' });
  });

  test('renders motion at 1280×720, the HUD from the left edge (no corner kept for a frame tag)', () => {
    const game = new NeonDrift({ seed: 5 });
    const canvas = createCanvas(1280, 720);
    const ctx = canvas.getContext('2d');
    game.applyInput(new KeyInput(1, key('ArrowLeft'), true));
    const frames: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      for (let k = 0; k < 10; k++) game.step();
      game.render(ctx);
      frames.push(Buffer.from(canvas.data()));
    }
    assert.equal(frames[0]?.length, 1280 * 720 * 4);
    assert.ok(!frames[0]?.equals(frames[1] ?? Buffer.alloc(0)), 'consecutive frames differ');
    // The HUD title starts near the left edge: the whole frame is the game's.
    const data = frames[2] ?? assert.fail();
    const bg = [data[0], data[1], data[2]];
    let drawn = 0;
    for (let y = 0; y < 24; y++) {
      for (let x = 0; x < 480; x++) {
        const o = (y * 1280 + x) * 4;
        if (data[o] !== bg[0] || data[o + 1] !== bg[1] || data[o + 2] !== bg[2]) drawn++;
      }
    }
    assert.ok(drawn > 100, `${drawn} HUD pixels in the top-left 480×24`);
  });

  test('the HUD drawn from its cached picture is the HUD drawn straight, at every rung, as scores and lives change', () => {
    for (const [width, height] of [
      [1280, 720],
      [960, 540],
    ] as const) {
      const straight = createCanvas(width, height);
      const cached = createCanvas(width, height);
      const contexts = [straight.getContext('2d'), cached.getContext('2d')];
      for (const ctx of contexts) ctx.setTransform(width / 1280, 0, 0, height / 720, 0, 0);
      const hud = new NeonDriftHud();
      const state = createNeonDriftState(3);
      const seen = new Set<string>();
      for (let i = 0; i < 40; i++) {
        for (let k = 0; k < 9; k++) stepNeonDrift(state);
        // What the cached picture shows changes: score, best, combo and lives.
        state.score += i % 3 === 0 ? 70 : 0;
        state.best = Math.max(state.best, state.score);
        state.combo = (i % 4) + 1;
        if (i === 20) state.lives = 1;
        drawNeonDrift(contexts[0] ?? assert.fail(), state);
        drawNeonDrift(contexts[1] ?? assert.fail(), state, hud);
        const a = straight.data();
        const b = cached.data();
        let worst = 0;
        for (let o = 0; o < a.length; o++) worst = Math.max(worst, Math.abs((a[o] ?? 0) - (b[o] ?? 0)));
        assert.ok(worst <= 1, `${width}×${height} frame ${i}: a pixel differs by ${worst}`);
        seen.add(b.subarray(0, width * 4 * Math.round((48 * height) / 720)).toString('base64'));
      }
      assert.ok(seen.size > 10, `the HUD strip changed ${seen.size} times`);
    }
  });

  test('renders sound: music from the start, an effect on a collect', () => {
    const game = new NeonDrift({ seed: 5 });
    const pcm = new Int16Array(960 * 2);
    game.renderAudio(pcm, 0);
    const energy = (samples: Int16Array) => samples.reduce((sum, v) => sum + Math.abs(v), 0) / samples.length;
    assert.ok(energy(pcm) > 100, 'music plays');
    const quiet = new NeonDrift({ seed: 5 });
    const loud = new NeonDrift({ seed: 5 });
    loud.applyInput(new KeyInput(1, key('Space'), true));
    loud.step();
    quiet.step();
    const a = new Int16Array(960 * 2);
    const b = new Int16Array(960 * 2);
    quiet.renderAudio(a, 960);
    loud.renderAudio(b, 960);
    assert.notDeepEqual(a, b, 'the boost event adds a sound');
  });
});
