import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAthError } from '../AthError.js';
import {
  decodeInput,
  FrameMarkInput,
  GamepadInput,
  KeyInput,
  PingInput,
  PointerButtonInput,
  PointerDeltaInput,
  PointerMoveInput,
  PongInput,
  StreamInfoInput,
  WheelInput,
} from './inputMessages.js';
import { keyCodeFromId, keyIdFromCode, x11KeysymFromId } from './keyCodes.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

// Golden bytes: the wire format is a contract with every browser in the field; these must never change.
const golden: Array<[string, { serialize(): Uint8Array }, string]> = [
  ['key down ArrowRight seq 7', new KeyInput(7, 53, true), '01070000003500' + '01'],
  ['key up KeyA seq 0x01020304', new KeyInput(0x01020304, 1, false), '010403020101' + '0000'],
  ['pointer move', new PointerMoveInput(1, 0x1234, 0xfffe), '0201000000' + '3412' + 'feff'],
  ['pointer delta', new PointerDeltaInput(2, -1, 300), '0302000000' + 'ffff' + '2c01'],
  ['pointer button right down', new PointerButtonInput(3, 2, true), '0403000000' + '02' + '01'],
  ['wheel', new WheelInput(4, 0, -120), '0504000000' + '0000' + '88ff'],
  [
    'gamepad',
    new GamepadInput(5, 1, 0b1000_0000_0000_0001, [32767, -32767, 0, 1], [255, 0]),
    '0605000000' + '01' + '01800000' + 'ff7f' + '0180' + '0000' + '0100' + 'ff' + '00',
  ],
  ['ping', new PingInput(9, 1.5), '1009000000' + '000000000000f83f'],
  ['pong', new PongInput(9, 1.5), '1109000000' + '000000000000f83f'],
  [
    'frame mark: input 7 first in the frame with RTP ts 0xdeadbeef, frame 300',
    new FrameMarkInput(7, 0xdeadbeef, 300),
    '1207000000' + 'efbeadde' + '2c010000',
  ],
  [
    'stream info: NVENC 1920×1080 at 60 fps',
    new StreamInfoInput('h264_nvenc', 1920, 1080, 60),
    '1300000000' + '02' + '8007' + '3804' + '3c00',
  ],
  [
    'stream info: libx264 1280×720 at 120 fps',
    new StreamInfoInput('libx264', 1280, 720, 120),
    '1300000000010005d0027800',
  ],
];

for (const [name, message, bytes] of golden) {
  test(`input golden bytes: ${name}`, () => {
    assert.equal(hex(message.serialize()), bytes);
    assert.deepEqual(decodeInput(Buffer.from(bytes, 'hex')), message);
  });
}

test('out-of-range values are clamped, not wrapped', () => {
  assert.deepEqual(
    PointerDeltaInput.deserialize(new PointerDeltaInput(1, 99999, -99999).serialize()),
    new PointerDeltaInput(1, 32767, -32768),
  );
  assert.equal(PointerMoveInput.deserialize(new PointerMoveInput(1, -5, 70000).serialize()).x, 0);
});

test('malformed input is a typed error', () => {
  const cases = [
    new Uint8Array([]),
    new Uint8Array([1, 0, 0]),
    new Uint8Array([99, 0, 0, 0, 0, 0]),
    new Uint8Array(9).fill(1),
    // stream info naming an encoder that does not exist
    new Uint8Array([19, 0, 0, 0, 0, 9, 0, 5, 0, 5, 60, 0]),
  ];
  for (const bytes of cases) {
    assert.throws(
      () => decodeInput(bytes),
      (error: unknown) => isAthError(error, 'ATH_ERR_BAD_INPUT'),
    );
  }
});

test('decodes from a view into a larger buffer', () => {
  const backing = new Uint8Array(32);
  backing.set(new KeyInput(1, 60, true).serialize(), 10);
  assert.deepEqual(decodeInput(backing.subarray(10, 18)), new KeyInput(1, 60, true));
});

test('key table maps browser codes to ids and X11 keysyms', () => {
  assert.equal(keyIdFromCode('ArrowRight'), 53);
  assert.equal(keyCodeFromId(53), 'ArrowRight');
  assert.equal(x11KeysymFromId(53), 'Right');
  assert.equal(x11KeysymFromId(keyIdFromCode('KeyW') ?? -1), 'w');
  assert.equal(keyIdFromCode('NoSuchKey'), undefined);
});
