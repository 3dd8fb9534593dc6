import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeInput,
  GamepadInput,
  KeyInput,
  keyIdFromCode,
  PointerButtonInput,
  PointerDeltaInput,
  PointerMoveInput,
  WheelInput,
} from '../../../signaling/protocol/index.js';
import {
  contentBox,
  decideKey,
  gamepadState,
  gamepadStatesEqual,
  idleGamepadState,
  inputMessages,
  isIdleGamepadState,
  normalizePointer,
  pointerButton,
  wheelPixels,
} from './inputMapping.js';

const key = (
  code: string,
  more: Partial<{ repeat: boolean; ctrlKey: boolean; metaKey: boolean; altKey: boolean }> = {},
) => ({
  code,
  repeat: false,
  ctrlKey: false,
  metaKey: false,
  altKey: false,
  ...more,
});

describe('keyboard', () => {
  test('game keys are sent by `code` and kept from the page', () => {
    assert.deepEqual(decideKey(key('ArrowLeft')), {
      kind: 'send',
      keyId: keyIdFromCode('ArrowLeft'),
      preventDefault: true,
    });
    assert.deepEqual(decideKey(key('Space')), { kind: 'send', keyId: keyIdFromCode('Space'), preventDefault: true });
  });

  test('auto-repeat is not sent', () => {
    assert.deepEqual(decideKey(key('KeyW', { repeat: true })), { kind: 'repeat', preventDefault: true });
  });

  test('keys the protocol lacks are left to the browser; browser shortcuts are not blocked', () => {
    assert.deepEqual(decideKey(key('MediaPlayPause')), { kind: 'ignore' });
    const reload = decideKey(key('KeyR', { ctrlKey: true }));
    assert.equal(reload.kind, 'send');
    assert.equal(reload.kind === 'send' && reload.preventDefault, false);
    const altTab = decideKey(key('Tab', { altKey: true }));
    assert.equal(altTab.kind === 'send' && altTab.preventDefault, false);
  });

  test('a key edge becomes a KeyInput on the reliable channel', () => {
    const out = inputMessages.key(7, keyIdFromCode('KeyA') ?? 0, true);
    assert.equal(out.channel, 'input');
    assert.equal(out.seq, 7);
    const decoded = decodeInput(out.bytes);
    assert.ok(decoded instanceof KeyInput);
    assert.deepEqual([decoded.seq, decoded.key, decoded.down], [7, keyIdFromCode('KeyA'), true]);
  });
});

describe('pointer', () => {
  test('the content box of a letterboxed 16:9 video', () => {
    // 1000×1000 element showing 1280×720: the picture is 1000×562.5, centred vertically.
    assert.deepEqual(contentBox({ left: 10, top: 20, width: 1000, height: 1000 }, 1280, 720), {
      left: 10,
      top: 20 + 218.75,
      width: 1000,
      height: 562.5,
    });
    // Pillarboxed: 2000×720 element.
    assert.deepEqual(contentBox({ left: 0, top: 0, width: 2000, height: 720 }, 1280, 720), {
      left: 360,
      top: 0,
      width: 1280,
      height: 720,
    });
    // No frame yet: the element's box.
    assert.deepEqual(contentBox({ left: 1, top: 2, width: 3, height: 4 }, 0, 0), {
      left: 1,
      top: 2,
      width: 3,
      height: 4,
    });
  });

  test('positions are 0..65535 across the picture, clamped outside', () => {
    const box = { left: 100, top: 100, width: 200, height: 100 };
    assert.deepEqual(normalizePointer(100, 100, box), { x: 0, y: 0, inside: true });
    assert.deepEqual(normalizePointer(300, 200, box), { x: 65535, y: 65535, inside: true });
    assert.deepEqual(normalizePointer(200, 150, box), { x: 32768, y: 32768, inside: true });
    assert.deepEqual(normalizePointer(50, 400, box), { x: 0, y: 65535, inside: false });
  });

  test('moves go unreliable, deltas, buttons and wheel reliable', () => {
    const move = inputMessages.move(1, 100, 200);
    assert.equal(move.channel, 'input-state');
    const m = decodeInput(move.bytes);
    assert.ok(m instanceof PointerMoveInput && m.x === 100 && m.y === 200);
    const delta = inputMessages.delta(2, -5, 7);
    assert.equal(delta.channel, 'input');
    const d = decodeInput(delta.bytes);
    assert.ok(d instanceof PointerDeltaInput && d.dx === -5 && d.dy === 7);
    const button = inputMessages.button(3, 2, true);
    assert.equal(button.channel, 'input');
    const b = decodeInput(button.bytes);
    assert.ok(b instanceof PointerButtonInput && b.button === 2 && b.down);
    const wheel = inputMessages.wheel(4, 0, -120);
    const w = decodeInput(wheel.bytes);
    assert.ok(w instanceof WheelInput && w.dy === -120 && wheel.channel === 'input');
  });

  test('wheel deltas in lines and pages become pixels', () => {
    assert.deepEqual(wheelPixels(0, 3, 1), { dx: 0, dy: 48 });
    assert.deepEqual(wheelPixels(1, 0, 2), { dx: 800, dy: 0 });
    assert.deepEqual(wheelPixels(0.4, -99.6, 0), { dx: 0, dy: -100 });
  });

  test('mouse buttons', () => {
    assert.equal(pointerButton(0), 0);
    assert.equal(pointerButton(2), 2);
    assert.equal(pointerButton(-1), undefined);
  });
});

describe('gamepad', () => {
  const pad = (pressed: number[], axes: number[], triggers: [number, number] = [0, 0]) => ({
    index: 1,
    connected: true,
    mapping: 'standard',
    buttons: Array.from({ length: 17 }, (_, i) => ({
      pressed: pressed.includes(i) || (i === 6 && triggers[0] > 0.5) || (i === 7 && triggers[1] > 0.5),
      value: i === 6 ? triggers[0] : i === 7 ? triggers[1] : pressed.includes(i) ? 1 : 0,
    })),
    axes,
  });

  test('a snapshot: button mask, scaled axes with a deadzone, analog triggers', () => {
    const state = gamepadState(pad([0, 3, 12], [0.5, -1, 0.02, 1.5], [1, 0.25]));
    assert.equal(state.pad, 1);
    assert.equal(state.buttons, (1 << 0) | (1 << 3) | (1 << 12) | (1 << 6));
    assert.deepEqual(state.axes, [16384, -32767, 0, 32767]);
    assert.deepEqual(state.triggers, [255, 64]);
    const bytes = inputMessages.gamepad(9, state, 'input-state');
    const decoded = decodeInput(bytes.bytes);
    assert.ok(decoded instanceof GamepadInput);
    assert.deepEqual(
      [decoded.buttons, [...decoded.axes], [...decoded.triggers]],
      [state.buttons, state.axes, state.triggers],
    );
  });

  test('change detection ignores stick noise inside the deadzone', () => {
    const a = gamepadState(pad([], [0.01, 0.03, 0, 0]));
    const b = gamepadState(pad([], [-0.02, 0.0, 0.05, 0]));
    assert.ok(gamepadStatesEqual(a, b));
    assert.ok(isIdleGamepadState(a));
    assert.ok(!gamepadStatesEqual(a, gamepadState(pad([1], [0, 0, 0, 0]))));
    assert.ok(gamepadStatesEqual(idleGamepadState(1), a));
    assert.ok(!gamepadStatesEqual(undefined, a));
  });
});
