/**
 * Pure mapping from DOM input to the protocol's binary input messages: which keys are game keys, where a
 * pointer is in the video's picture, how wheel deltas become pixels, what a gamepad snapshot is. The DOM
 * listeners (`InputCapture.ts`) call these; the tests call them without a browser.
 */
import {
  GamepadInput,
  KeyInput,
  keyIdFromCode,
  PointerButtonInput,
  PointerDeltaInput,
  PointerMoveInput,
  WheelInput,
} from '../../../signaling/protocol/index.js';

export type Box = { left: number; top: number; width: number; height: number };

/**
 * Where the picture is inside the `<video>` element's box: `object-fit: contain` letterboxes the frame, so
 * pointer positions are normalised to the picture, not to the element.
 */
export function contentBox(element: Box, videoWidth: number, videoHeight: number): Box {
  if (videoWidth <= 0 || videoHeight <= 0 || element.width <= 0 || element.height <= 0) return element;
  const scale = Math.min(element.width / videoWidth, element.height / videoHeight);
  const width = videoWidth * scale;
  const height = videoHeight * scale;
  return {
    left: element.left + (element.width - width) / 2,
    top: element.top + (element.height - height) / 2,
    width,
    height,
  };
}

const AXIS_MAX = 65535;

/** A client position as 0..65535 across the picture (clamped at the edges); `inside` says if it was on it. */
export function normalizePointer(
  clientX: number,
  clientY: number,
  box: Box,
): { x: number; y: number; inside: boolean } {
  const fx = box.width > 0 ? (clientX - box.left) / box.width : 0;
  const fy = box.height > 0 ? (clientY - box.top) / box.height : 0;
  const inside = fx >= 0 && fx <= 1 && fy >= 0 && fy <= 1;
  const clamp = (f: number) => Math.round(Math.min(1, Math.max(0, f)) * AXIS_MAX);
  return { x: clamp(fx), y: clamp(fy), inside };
}

/** `WheelEvent.deltaMode`: 0 pixels, 1 lines, 2 pages. */
export function wheelPixels(deltaX: number, deltaY: number, deltaMode: number): { dx: number; dy: number } {
  const factor = deltaMode === 1 ? 16 : deltaMode === 2 ? 800 : 1;
  return { dx: Math.round(deltaX * factor), dy: Math.round(deltaY * factor) };
}

export type KeyEventLike = { code: string; repeat: boolean; ctrlKey: boolean; metaKey: boolean; altKey: boolean };

export type KeyDecision =
  /** Not a key the protocol carries: leave the event to the browser. */
  | { kind: 'ignore' }
  /** An auto-repeat of a held key: not sent (the host sees one down, one up), but kept from the page. */
  | { kind: 'repeat'; preventDefault: boolean }
  | { kind: 'send'; keyId: number; preventDefault: boolean };

/**
 * What to do with a key event while the player has focus. Browser shortcuts (Ctrl/⌘ + key) still reach the
 * game as key edges but are not blocked, so reload, copy and tab switching keep working.
 */
export function decideKey(event: KeyEventLike): KeyDecision {
  const keyId = keyIdFromCode(event.code);
  if (keyId === undefined) return { kind: 'ignore' };
  const preventDefault = !(event.ctrlKey || event.metaKey) && !(event.altKey && event.code === 'Tab');
  if (event.repeat) return { kind: 'repeat', preventDefault };
  return { kind: 'send', keyId, preventDefault };
}

/** `MouseEvent.button` → protocol button (0 left, 1 middle, 2 right, 3 back, 4 forward). */
export function pointerButton(button: number): number | undefined {
  return Number.isInteger(button) && button >= 0 && button <= 15 ? button : undefined;
}

export type GamepadButtonLike = { pressed: boolean; value: number };
export type GamepadLike = {
  index: number;
  connected: boolean;
  mapping?: string;
  buttons: readonly GamepadButtonLike[];
  axes: readonly number[];
};

export type GamepadState = {
  pad: number;
  buttons: number;
  axes: [number, number, number, number];
  triggers: [number, number];
};

/** Stick noise below this (of full scale) reads as centred, so an idle pad does not stream snapshots. */
export const GAMEPAD_DEADZONE = 0.06;

function axisValue(value: number | undefined): number {
  const v = value ?? 0;
  if (!Number.isFinite(v) || Math.abs(v) < GAMEPAD_DEADZONE) return 0;
  return Math.round(Math.max(-1, Math.min(1, v)) * 32767);
}

/** A W3C standard-mapping gamepad as the protocol's snapshot (buttons 6/7 are the analog triggers). */
export function gamepadState(pad: GamepadLike): GamepadState {
  let buttons = 0;
  for (let i = 0; i < Math.min(32, pad.buttons.length); i++) {
    if (pad.buttons[i]?.pressed) buttons |= 1 << i;
  }
  const trigger = (i: number) => Math.round(Math.max(0, Math.min(1, pad.buttons[i]?.value ?? 0)) * 255);
  return {
    pad: pad.index,
    buttons: buttons >>> 0,
    axes: [axisValue(pad.axes[0]), axisValue(pad.axes[1]), axisValue(pad.axes[2]), axisValue(pad.axes[3])],
    triggers: [trigger(6), trigger(7)],
  };
}

export function gamepadStatesEqual(a: GamepadState | undefined, b: GamepadState | undefined): boolean {
  if (!a || !b) return a === b;
  return (
    a.pad === b.pad &&
    a.buttons === b.buttons &&
    a.axes.every((v, i) => v === b.axes[i]) &&
    a.triggers[0] === b.triggers[0] &&
    a.triggers[1] === b.triggers[1]
  );
}

/** A released pad: what is sent for a pad that disconnects or when the page loses focus. */
export function idleGamepadState(pad: number): GamepadState {
  return { pad, buttons: 0, axes: [0, 0, 0, 0], triggers: [0, 0] };
}

export function isIdleGamepadState(state: GamepadState): boolean {
  return gamepadStatesEqual(state, idleGamepadState(state.pad));
}

/** Channel per message: edges must arrive (reliable, ordered); snapshots are superseded (unreliable). */
export type InputChannelName = 'input' | 'input-state';

export type OutgoingInput = { bytes: Uint8Array; seq: number; channel: InputChannelName };

export const inputMessages = {
  key: (seq: number, keyId: number, down: boolean): OutgoingInput => ({
    bytes: new KeyInput(seq, keyId, down).serialize(),
    seq,
    channel: 'input',
  }),
  move: (seq: number, x: number, y: number): OutgoingInput => ({
    bytes: new PointerMoveInput(seq, x, y).serialize(),
    seq,
    channel: 'input-state',
  }),
  /**
   * Deltas add up on the host: a lost one would shift the aim for good, so they go on the reliable channel
   * (an absolute move is superseded by the next one and may be lost).
   */
  delta: (seq: number, dx: number, dy: number): OutgoingInput => ({
    bytes: new PointerDeltaInput(seq, dx, dy).serialize(),
    seq,
    channel: 'input',
  }),
  button: (seq: number, button: number, down: boolean): OutgoingInput => ({
    bytes: new PointerButtonInput(seq, button, down).serialize(),
    seq,
    channel: 'input',
  }),
  wheel: (seq: number, dx: number, dy: number): OutgoingInput => ({
    bytes: new WheelInput(seq, dx, dy).serialize(),
    seq,
    channel: 'input',
  }),
  gamepad: (seq: number, state: GamepadState, channel: InputChannelName): OutgoingInput => ({
    bytes: new GamepadInput(seq, state.pad, state.buttons, state.axes, state.triggers).serialize(),
    seq,
    channel,
  }),
};
