import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RESUME_WINDOW_MS, SessionStore, type StorageLike, TOKEN_REFRESH_MARGIN_SEC } from './sessionStore.js';

function memoryStorage(): StorageLike & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

const SESSION_ID = `0x${'ab'.repeat(32)}`;

describe('SessionStore', () => {
  test('keeps the player token until shortly before it expires', () => {
    const store = new SessionStore(memoryStorage(), 'http://a');
    const nowMs = 1_000_000_000;
    store.savePlayer({ token: 't.s', playerId: 'p-1', expiresAtSec: nowMs / 1000 + 3600 });
    assert.equal(store.player(nowMs)?.token, 't.s');
    assert.equal(store.player(nowMs + (3600 - TOKEN_REFRESH_MARGIN_SEC) * 1000), undefined);
  });

  test('a session is resumable within the window only', () => {
    const store = new SessionStore(memoryStorage(), 'http://a');
    store.saveSession({ sessionId: SESSION_ID, game: 'neon-drift', seenAtMs: 5000, inputSeq: 42 });
    assert.deepEqual(store.session(5000 + RESUME_WINDOW_MS), {
      sessionId: SESSION_ID,
      game: 'neon-drift',
      seenAtMs: 5000,
      inputSeq: 42,
    });
    assert.equal(store.session(5001 + RESUME_WINDOW_MS), undefined);
    store.forgetSession();
    assert.equal(store.session(5000), undefined);
  });

  test('scopes are separate; corrupt or forged entries read as none', () => {
    const storage = memoryStorage();
    const a = new SessionStore(storage, 'http://a');
    const b = new SessionStore(storage, 'http://b');
    a.saveSession({ sessionId: SESSION_ID, game: 'neon-drift', seenAtMs: 0, inputSeq: 0 });
    assert.equal(b.session(0), undefined);
    storage.setItem('ath-edge:session:http://b', '{not json');
    assert.equal(b.session(0), undefined);
    assert.equal(storage.getItem('ath-edge:session:http://b'), null);
    storage.setItem('ath-edge:session:http://b', JSON.stringify({ sessionId: 'x', game: 'neon-drift', seenAtMs: 0 }));
    assert.equal(b.session(0), undefined);
    storage.setItem('ath-edge:player:http://b', JSON.stringify({ token: 1 }));
    assert.equal(b.player(0), undefined);
  });

  test('works without storage at all', () => {
    const store = new SessionStore(undefined, 'x');
    store.saveSession({ sessionId: SESSION_ID, game: 'g', seenAtMs: 0, inputSeq: 0 });
    assert.equal(store.session(0), undefined);
  });
});
