import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerWithOfferedH264Level, h264Fmtp, h264Level, h264ProfileLevelId } from './mediaWire.js';

test('the H.264 level covers the frame size × frame rate (Table A-1)', () => {
  const cases: Array<[number, number, number, string, string]> = [
    [320, 180, 30, '3.1', '42e01f'],
    [1280, 720, 30, '3.1', '42e01f'],
    [1280, 720, 60, '3.2', '42e020'],
    [1920, 1080, 30, '4', '42e028'],
    [1920, 1080, 60, '4.2', '42e02a'],
    [1280, 720, 120, '4.2', '42e02a'],
    [1920, 1080, 120, '5.1', '42e033'],
    [3840, 2160, 60, '5.2', '42e034'],
  ];
  for (const [width, height, fps, name, id] of cases) {
    assert.equal(h264Level({ width, height, fps }).name, name, `${width}×${height}@${fps}`);
    assert.equal(h264ProfileLevelId({ width, height, fps }), id, `${width}×${height}@${fps}`);
  }
  assert.throws(() => h264Level({ width: 7680, height: 4320, fps: 60 }), RangeError);
  assert.equal(
    h264Fmtp({ width: 1920, height: 1080, fps: 60 }),
    'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e02a',
  );
});

test("the player's answer states the offered constrained-baseline level", () => {
  const offer = 'a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e02a\r\n';
  const answer =
    'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n' +
    'a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\n';
  const munged = answerWithOfferedH264Level(answer, offer);
  assert.match(munged, /a=fmtp:102 [^\r]*profile-level-id=42e02a/);
  // Other profiles are left alone.
  assert.match(munged, /profile-level-id=4d001f/);
  assert.equal(answerWithOfferedH264Level(answer, 'm=video 9 UDP/TLS/RTP/SAVPF 100\r\n'), answer);
});
