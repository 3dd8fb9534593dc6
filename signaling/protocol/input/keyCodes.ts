/**
 * Keyboard keys on the wire: a u16 id per `KeyboardEvent.code`, and the X11 keysym name the render host
 * injects for external games (xdotool). Ids are stable: append, never renumber.
 */
type KeyEntry = readonly [code: string, id: number, x11: string];

const letters: KeyEntry[] = Array.from({ length: 26 }, (_, i) => {
  const ch = String.fromCharCode(97 + i);
  return [`Key${ch.toUpperCase()}`, 1 + i, ch] as const;
});
const digits: KeyEntry[] = Array.from({ length: 10 }, (_, i) => [`Digit${i}`, 30 + i, String(i)] as const);
const functionKeys: KeyEntry[] = Array.from({ length: 12 }, (_, i) => [`F${i + 1}`, 100 + i, `F${i + 1}`] as const);

export const KEY_TABLE: readonly KeyEntry[] = [
  ...letters,
  ...digits,
  ['ArrowUp', 50, 'Up'],
  ['ArrowDown', 51, 'Down'],
  ['ArrowLeft', 52, 'Left'],
  ['ArrowRight', 53, 'Right'],
  ['Space', 60, 'space'],
  ['Enter', 61, 'Return'],
  ['Escape', 62, 'Escape'],
  ['Tab', 63, 'Tab'],
  ['Backspace', 64, 'BackSpace'],
  ['ShiftLeft', 70, 'Shift_L'],
  ['ShiftRight', 71, 'Shift_R'],
  ['ControlLeft', 72, 'Control_L'],
  ['ControlRight', 73, 'Control_R'],
  ['AltLeft', 74, 'Alt_L'],
  ['AltRight', 75, 'Alt_R'],
  ['Minus', 80, 'minus'],
  ['Equal', 81, 'equal'],
  ['BracketLeft', 82, 'bracketleft'],
  ['BracketRight', 83, 'bracketright'],
  ['Semicolon', 84, 'semicolon'],
  ['Quote', 85, 'apostrophe'],
  ['Comma', 86, 'comma'],
  ['Period', 87, 'period'],
  ['Slash', 88, 'slash'],
  ['Backquote', 89, 'grave'],
  ['Backslash', 90, 'backslash'],
  ['Insert', 91, 'Insert'],
  ['Delete', 92, 'Delete'],
  ['Home', 93, 'Home'],
  ['End', 94, 'End'],
  ['PageUp', 95, 'Prior'],
  ['PageDown', 96, 'Next'],
  ...functionKeys,
];

const idByCode = new Map(KEY_TABLE.map(([code, id]) => [code, id]));
const entryById = new Map(KEY_TABLE.map((entry) => [entry[1], entry]));

/** The wire id for a `KeyboardEvent.code`, or undefined for keys the protocol does not carry. */
export function keyIdFromCode(code: string): number | undefined {
  return idByCode.get(code);
}

export function keyCodeFromId(id: number): string | undefined {
  return entryById.get(id)?.[0];
}

export function x11KeysymFromId(id: number): string | undefined {
  return entryById.get(id)?.[2];
}
