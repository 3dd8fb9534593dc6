import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from './createLogger.js';

test('TURN credentials and secrets never reach the log, wherever they sit in a logged message', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ath-log-'));
  try {
    const file = join(dir, 'role.log');
    const log = createLogger({ level: 'info', role: 'test', file });
    const iceServers = [
      { urls: ['stun:198.51.100.7:3478'] },
      { urls: ['turn:198.51.100.7:3478'], username: '1800000000:0xab', credential: 'CREDENTIAL-ONE=' },
    ];
    log.info({ iceServers }, 'servers');
    log.info({ message: { type: 'session', iceServers } }, 'message');
    log.info({ msg: { message: { type: 'start-session', iceServers } } }, 'nested');
    log.info({ credential: 'CREDENTIAL-TWO=' }, 'bare');
    log.info({ turn: { secret: 'SHARED-SECRET-ABC' } }, 'turn');
    log.flush();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const text = readFileSync(file, 'utf8');
    assert.equal(text.trim().split('\n').length, 5);
    for (const leaked of ['CREDENTIAL-ONE', 'CREDENTIAL-TWO', 'SHARED-SECRET-ABC'])
      assert.ok(!text.includes(leaked), leaked);
    assert.ok(text.includes('1800000000:0xab'), 'the username (expiry:session) stays: it names the session');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
