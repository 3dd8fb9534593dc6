/**
 * Player input into one session's display: one long-running `xdotool -` per session (XTest on that display
 * only), fed one command per line (≈0.3 ms each). No `--window`: SDL ignores synthetic (XSendEvent) events,
 * XTest events reach whatever has focus — the game's full-screen window, with no window manager around.
 *
 * - Keys: the wire key id → X keysym (`x11KeysymFromId`), `keydown`/`keyup`.
 * - Absolute games: `mousemove x y` (the wire's 0..65535 scaled to the screen); relative games (pointer lock):
 *   `mousemove_relative -- dx dy`. Each mode ignores the other kind of motion.
 * - Buttons 0/1/2/3/4 (left/middle/right/back/forward) → X buttons 1/2/3/8/9; wheel → clicks of 4/5 (6/7
 *   horizontal), one per 100 CSS px, remainders carried.
 * - Gamepads → keys through the manifest's map (no per-session virtual gamepad: a uinput device is seen by
 *   every game on the machine). A key held by the keyboard and the pad is released when neither holds it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from 'pino';
import {
  AthError,
  GamepadInput,
  KeyInput,
  PointerButtonInput,
  PointerDeltaInput,
  PointerMoveInput,
  WheelInput,
  x11KeysymFromId,
} from '../../signaling/protocol/index.js';
import type { GameInputMessage } from '../games/index.js';
import type { GamepadMap } from './AppManifest.js';
import { APP_PATH } from './checkAppAvailability.js';
import { AppsErrorCode } from './errors.js';

export type StartXdotoolInjectorParameters = {
  display: string;
  width: number;
  height: number;
  inputMode: 'absolute' | 'relative';
  gamepad?: GamepadMap | undefined;
  env?: Record<string, string>;
  log: Logger;
};

const X_BUTTONS = [1, 2, 3, 8, 9] as const;
const WHEEL_STEP_PX = 100;
const AXIS_MAX = 32767;

export type InputInjectorStats = { applied: number; ignored: number; linesWritten: number; running: boolean };

export class XdotoolInjector {
  readonly #child: ChildProcess;
  readonly #p: StartXdotoolInjectorParameters;
  readonly #log: Logger;
  readonly #keyboardHeld = new Set<string>();
  readonly #padHeld = new Set<string>();
  #wheelX = 0;
  #wheelY = 0;
  #lastInputSeq = 0;
  #applied = 0;
  #ignored = 0;
  #lines = 0;
  #running = true;
  #closed = false;
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess, params: StartXdotoolInjectorParameters) {
    this.#child = child;
    this.#p = params;
    this.#log = params.log;
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.stdin?.on('error', (error) => {
      if (!this.#closed) this.#log.warn({ err: error }, 'xdotool input stream failed');
    });
    child.stderr?.on('data', (chunk: Buffer) => this.#log.debug({ stderr: chunk.toString().trim() }, 'xdotool'));
    child.once('exit', (code, signal) => {
      this.#running = false;
      if (!this.#closed) this.#log.warn({ code, signal }, 'xdotool exited: input is lost for this session');
    });
  }

  static async start(params: StartXdotoolInjectorParameters): Promise<XdotoolInjector> {
    const child = spawn('xdotool', ['-'], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { PATH: APP_PATH, DISPLAY: params.display, ...params.env },
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) =>
        reject(new AthError({ code: AppsErrorCode.input, shortMessage: 'cannot start xdotool', cause: error })),
      );
    });
    return new XdotoolInjector(child, params);
  }

  /** Seq of the last input written to xdotool (0 before any): what the frame marks report. */
  get lastInputSeq(): number {
    return this.#lastInputSeq;
  }

  stats(): InputInjectorStats {
    return { applied: this.#applied, ignored: this.#ignored, linesWritten: this.#lines, running: this.#running };
  }

  /** Injects one player input message; messages the game cannot use are counted and ignored. */
  apply(message: GameInputMessage): void {
    if (this.#closed) return;
    const lines = this.#linesFor(message);
    if (lines === undefined) {
      this.#ignored += 1;
      return;
    }
    this.#write(lines);
    this.#applied += 1;
    this.#lastInputSeq = message.seq;
  }

  /** Holds a key (by X keysym name) for `holdMs`: for start keys and tests, not player input. */
  async tapKey(keysym: string, holdMs = 100): Promise<void> {
    this.#write([`keydown --delay 0 ${keysym}`]);
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    this.#write([`keyup --delay 0 ${keysym}`]);
  }

  /** Lets go of every key held by the player (keyboard or pad): for a player who went away. */
  releaseAll(): void {
    const keys = new Set([...this.#keyboardHeld, ...this.#padHeld]);
    this.#keyboardHeld.clear();
    this.#padHeld.clear();
    this.#write([...keys].map((key) => `keyup --delay 0 ${key}`));
  }

  #write(lines: readonly string[]): void {
    if (lines.length === 0 || !this.#running || this.#closed) return;
    this.#lines += lines.length;
    this.#child.stdin?.write(`${lines.join('\n')}\n`);
  }

  #linesFor(message: GameInputMessage): string[] | undefined {
    if (message instanceof KeyInput) {
      const keysym = x11KeysymFromId(message.key);
      if (!keysym) return undefined;
      return this.#keyEdge(keysym, message.down, this.#keyboardHeld, this.#padHeld);
    }
    if (message instanceof PointerMoveInput) {
      if (this.#p.inputMode !== 'absolute') return undefined;
      const x = Math.round((message.x / 65535) * (this.#p.width - 1));
      const y = Math.round((message.y / 65535) * (this.#p.height - 1));
      return [`mousemove ${x} ${y}`];
    }
    if (message instanceof PointerDeltaInput) {
      if (this.#p.inputMode !== 'relative') return undefined;
      return [`mousemove_relative -- ${Math.round(message.dx)} ${Math.round(message.dy)}`];
    }
    if (message instanceof PointerButtonInput) {
      const button = X_BUTTONS[message.button];
      if (button === undefined) return undefined;
      return [`${message.down ? 'mousedown' : 'mouseup'} ${button}`];
    }
    if (message instanceof WheelInput) return this.#wheel(message.dx, message.dy);
    if (message instanceof GamepadInput) return this.#gamepad(message);
    return undefined;
  }

  #keyEdge(keysym: string, down: boolean, own: Set<string>, other: Set<string>): string[] {
    if (down) {
      if (own.has(keysym)) return [];
      own.add(keysym);
      return other.has(keysym) ? [] : [`keydown --delay 0 ${keysym}`];
    }
    if (!own.delete(keysym)) return [];
    return other.has(keysym) ? [] : [`keyup --delay 0 ${keysym}`];
  }

  #wheel(dx: number, dy: number): string[] {
    this.#wheelX += dx;
    this.#wheelY += dy;
    const lines: string[] = [];
    for (const [axis, negative, positive] of [
      ['y', 4, 5],
      ['x', 6, 7],
    ] as const) {
      const total = axis === 'y' ? this.#wheelY : this.#wheelX;
      const clicks = Math.trunc(total / WHEEL_STEP_PX);
      if (clicks === 0) continue;
      if (axis === 'y') this.#wheelY -= clicks * WHEEL_STEP_PX;
      else this.#wheelX -= clicks * WHEEL_STEP_PX;
      lines.push(`click --repeat ${Math.min(Math.abs(clicks), 20)} --delay 0 ${clicks < 0 ? negative : positive}`);
    }
    return lines;
  }

  #gamepad(message: GamepadInput): string[] | undefined {
    const map = this.#p.gamepad;
    // One player per session: the first pad drives the game, others are ignored.
    if (!map || message.pad !== 0) return undefined;
    const wanted = new Set<string>();
    for (const [index, keysym] of Object.entries(map.buttons)) {
      if ((message.buttons >>> Number(index)) & 1) wanted.add(keysym);
    }
    const threshold = map.axisThreshold * AXIS_MAX;
    for (const { axis, negative, positive } of map.axes) {
      const value = message.axes[axis] ?? 0;
      if (negative && value <= -threshold) wanted.add(negative);
      if (positive && value >= threshold) wanted.add(positive);
    }
    const lines: string[] = [];
    for (const keysym of [...this.#padHeld]) {
      if (!wanted.has(keysym)) lines.push(...this.#keyEdge(keysym, false, this.#padHeld, this.#keyboardHeld));
    }
    for (const keysym of wanted) lines.push(...this.#keyEdge(keysym, true, this.#padHeld, this.#keyboardHeld));
    return lines;
  }

  /** Releases held keys, ends xdotool (EOF on its script), kills it if it lingers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return this.#exited;
    this.releaseAll();
    this.#closed = true;
    this.#child.stdin?.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 1000);
    await this.#exited;
    clearTimeout(timer);
  }
}
