/**
 * Keyboard, mouse and gamepad capture for one streaming session. Listens on the elements it is given, turns
 * events into binary input messages (`inputMapping.ts`) with a per-session increasing seq, and hands them to
 * `send`. Releases everything held when the page loses focus, so no key stays stuck on the host.
 */

import { keyIdFromCode } from '../../../signaling/protocol/index.js';
import {
  contentBox,
  decideKey,
  type GamepadLike,
  type GamepadState,
  gamepadState,
  gamepadStatesEqual,
  idleGamepadState,
  inputMessages,
  isIdleGamepadState,
  normalizePointer,
  type OutgoingInput,
  pointerButton,
  wheelPixels,
} from './inputMapping.js';

export type InputCaptureParameters = {
  video: HTMLVideoElement;
  /** Receives key events while focused (tabindex set by the caller or here). */
  keyboardTarget: HTMLElement;
  /** `relative`: pointer lock on click, mouse deltas instead of positions. */
  inputMode: 'absolute' | 'relative';
  nextSeq: () => number;
  send: (input: OutgoingInput) => void;
};

export class InputCapture {
  readonly #video: HTMLVideoElement;
  readonly #keyboardTarget: HTMLElement;
  readonly #relative: boolean;
  readonly #nextSeq: () => number;
  readonly #send: (input: OutgoingInput) => void;
  readonly #heldKeys = new Map<string, number>();
  readonly #heldButtons = new Set<number>();
  readonly #pads = new Map<number, GamepadState>();
  readonly #unsubscribes: Array<() => void> = [];
  #frame: number | undefined;
  #closed = false;

  constructor({ video, keyboardTarget, inputMode, nextSeq, send }: InputCaptureParameters) {
    this.#video = video;
    this.#keyboardTarget = keyboardTarget;
    this.#relative = inputMode === 'relative';
    this.#nextSeq = nextSeq;
    this.#send = send;
    if (keyboardTarget.tabIndex < 0) keyboardTarget.tabIndex = 0;

    this.#listen(keyboardTarget, 'keydown', (e: KeyboardEvent) => this.#onKey(e, true));
    this.#listen(keyboardTarget, 'keyup', (e: KeyboardEvent) => this.#onKey(e, false));
    this.#listen(keyboardTarget, 'blur', () => this.releaseAll());
    this.#listen(video, 'pointermove', (e: PointerEvent) => this.#onPointerMove(e));
    this.#listen(video, 'pointerdown', (e: PointerEvent) => this.#onPointerButton(e, true));
    this.#listen(video, 'pointerup', (e: PointerEvent) => this.#onPointerButton(e, false));
    this.#listen(video, 'pointercancel', () => this.#releaseButtons());
    this.#listen(video, 'wheel', (e: WheelEvent) => this.#onWheel(e), { passive: false });
    this.#listen(video, 'contextmenu', (e) => e.preventDefault());
    this.#listen(window, 'blur', () => this.releaseAll());
    this.#listen(document, 'visibilitychange', () => {
      if (document.visibilityState === 'hidden') this.releaseAll();
    });
    this.#listen(document, 'pointerlockchange', () => {
      if (!this.pointerLocked) this.#releaseButtons();
    });
    this.#pollGamepads();
  }

  get pointerLocked(): boolean {
    const root = this.#video.getRootNode();
    const locked = root instanceof ShadowRoot || root instanceof Document ? root.pointerLockElement : null;
    return locked === this.#video;
  }

  /** Sends an up for every key and button held, and an idle snapshot for every active pad. */
  releaseAll(): void {
    for (const keyId of this.#heldKeys.values()) this.#send(inputMessages.key(this.#nextSeq(), keyId, false));
    this.#heldKeys.clear();
    this.#releaseButtons();
    for (const [index, state] of this.#pads) {
      if (isIdleGamepadState(state)) continue;
      const idle = idleGamepadState(index);
      this.#pads.set(index, idle);
      const seq = this.#nextSeq();
      this.#send(inputMessages.gamepad(seq, idle, 'input'));
    }
  }

  /** Idempotent: releases what is held, removes every listener, stops gamepad polling. */
  close(): void {
    if (this.#closed) return;
    this.releaseAll();
    this.#closed = true;
    for (const unsubscribe of this.#unsubscribes.splice(0)) unsubscribe();
    if (this.#frame !== undefined) cancelAnimationFrame(this.#frame);
    if (this.pointerLocked) document.exitPointerLock();
  }

  #listen<E extends Event>(
    target: EventTarget,
    type: string,
    handler: (event: E) => void,
    options?: AddEventListenerOptions,
  ): void {
    const listener = (event: Event) => {
      if (!this.#closed) handler(event as E);
    };
    target.addEventListener(type, listener, options);
    this.#unsubscribes.push(() => target.removeEventListener(type, listener, options));
  }

  #onKey(event: KeyboardEvent, down: boolean): void {
    const decision = decideKey(event);
    if (decision.kind === 'ignore') return;
    if (decision.preventDefault) event.preventDefault();
    if (decision.kind === 'repeat') return;
    if (down) {
      if (this.#heldKeys.has(event.code)) return;
      this.#heldKeys.set(event.code, decision.keyId);
    } else {
      if (!this.#heldKeys.delete(event.code)) return;
    }
    this.#send(inputMessages.key(this.#nextSeq(), decision.keyId, down));
  }

  /**
   * A key pressed or released by something other than the keyboard (the on-screen touch gamepad): sent exactly
   * as the keyboard's would be, held keys tracked the same way, so `releaseAll` lets go of them too.
   */
  virtualKey(code: string, down: boolean): void {
    if (this.#closed) return;
    const keyId = keyIdFromCode(code);
    if (keyId === undefined) return;
    const name = `virtual:${code}`;
    if (down) {
      if (this.#heldKeys.has(name)) return;
      this.#heldKeys.set(name, keyId);
    } else if (!this.#heldKeys.delete(name)) {
      return;
    }
    this.#send(inputMessages.key(this.#nextSeq(), keyId, down));
  }

  #onPointerMove(event: PointerEvent): void {
    if (this.pointerLocked) {
      if (event.movementX !== 0 || event.movementY !== 0) {
        this.#send(inputMessages.delta(this.#nextSeq(), event.movementX, event.movementY));
      }
      return;
    }
    if (this.#relative) return;
    const box = contentBox(this.#video.getBoundingClientRect(), this.#video.videoWidth, this.#video.videoHeight);
    const { x, y, inside } = normalizePointer(event.clientX, event.clientY, box);
    if (!inside && this.#heldButtons.size === 0) return;
    this.#send(inputMessages.move(this.#nextSeq(), x, y));
  }

  #onPointerButton(event: PointerEvent, down: boolean): void {
    const button = pointerButton(event.button);
    if (button === undefined) return;
    if (down) {
      this.#keyboardTarget.focus({ preventScroll: true });
      if (this.#relative && !this.pointerLocked) {
        // The click that asks for pointer lock is not a game click.
        this.#requestPointerLock();
        return;
      }
      event.preventDefault();
      if (this.#heldButtons.has(button)) return;
      this.#heldButtons.add(button);
      if (!this.pointerLocked) {
        // Keep receiving moves and the up while dragging outside the video.
        this.#video.setPointerCapture(event.pointerId);
        this.#onPointerMove(event);
      }
    } else {
      if (!this.#heldButtons.delete(button)) return;
    }
    this.#send(inputMessages.button(this.#nextSeq(), button, down));
  }

  #onWheel(event: WheelEvent): void {
    event.preventDefault();
    const { dx, dy } = wheelPixels(event.deltaX, event.deltaY, event.deltaMode);
    if (dx === 0 && dy === 0) return;
    this.#send(inputMessages.wheel(this.#nextSeq(), dx, dy));
  }

  #releaseButtons(): void {
    for (const button of this.#heldButtons) this.#send(inputMessages.button(this.#nextSeq(), button, false));
    this.#heldButtons.clear();
  }

  #requestPointerLock(): void {
    // Chromium returns a promise (rejects when the user backs out); older engines return nothing.
    const result: unknown = this.#video.requestPointerLock();
    if (result instanceof Promise) result.catch(() => undefined);
  }

  #pollGamepads(): void {
    if (this.#closed) return;
    this.#frame = requestAnimationFrame(() => this.#pollGamepads());
    if (typeof navigator.getGamepads !== 'function' || !document.hasFocus()) return;
    const seen = new Set<number>();
    for (const pad of navigator.getGamepads() as readonly (GamepadLike | null)[]) {
      if (!pad?.connected) continue;
      seen.add(pad.index);
      this.#sendPad(gamepadState(pad));
    }
    for (const index of this.#pads.keys()) {
      if (!seen.has(index)) this.#sendPad(idleGamepadState(index));
    }
  }

  #sendPad(state: GamepadState): void {
    const previous = this.#pads.get(state.pad);
    if (gamepadStatesEqual(previous, state) || (!previous && isIdleGamepadState(state))) return;
    this.#pads.set(state.pad, state);
    const seq = this.#nextSeq();
    this.#send(inputMessages.gamepad(seq, state, 'input-state'));
    // A button edge must never be lost: the same snapshot also goes on the reliable channel.
    if ((previous?.buttons ?? 0) !== state.buttons) this.#send(inputMessages.gamepad(seq, state, 'input'));
  }
}
