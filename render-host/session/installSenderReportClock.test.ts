import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RTCRtpSender } from 'werift';
import { installSenderReportClock, ntpFromWallMs } from './installSenderReportClock.js';

test('ntpFromWallMs: seconds since 1900 and a binary fraction', () => {
  const ntp = ntpFromWallMs(Date.UTC(2024, 0, 1) + 500);
  assert.equal(Number(ntp >> 32n), Date.UTC(2024, 0, 1) / 1000 + 2_208_988_800);
  assert.equal(Number(ntp & 0xffffffffn), 2 ** 31, '0.5 s is half of 2^32');
});

test('sender reports map RTP time through the shared media clock, audio and video alike', () => {
  const epochWallMs = Date.UTC(2024, 5, 1, 12);
  const video = new RTCRtpSender('video');
  const audio = new RTCRtpSender('audio');
  assert.ok(installSenderReportClock({ sender: video, clockRate: 90_000, rtpBase: 4_000_000_000, epochWallMs }));
  assert.ok(installSenderReportClock({ sender: audio, clockRate: 48_000, rtpBase: 123, epochWallMs }));
  const fields = (s: RTCRtpSender) => s as unknown as { rtpTimestamp: number; ntpTimestamp: bigint };
  // 2.5 s into the session on both clocks (the video one wraps past 2^32 on the way).
  fields(video).rtpTimestamp = (4_000_000_000 + 225_000) >>> 0;
  fields(audio).rtpTimestamp = 123 + 120_000;
  // werift overwrites the NTP value on every packet with its send time; the media clock must win.
  fields(video).ntpTimestamp = 1n;
  assert.equal(fields(video).ntpTimestamp, ntpFromWallMs(epochWallMs + 2500));
  assert.equal(fields(audio).ntpTimestamp, ntpFromWallMs(epochWallMs + 2500));
});
