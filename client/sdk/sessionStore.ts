/**
 * What survives a page reload, in `sessionStorage` (per tab, gone when the tab closes): the player token
 * (the same player identity, so the server lets us resume) and the live session (so a reload sends
 * `resumeSessionId`). Everything read back is validated: storage is outside input like any other.
 */
export type StorageLike = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

export type StoredPlayer = { token: string; playerId: string; expiresAtSec: number };
export type StoredSession = {
  sessionId: string;
  game: string;
  /** Last time this page knew the session alive (updated while playing and when the page is hidden). */
  seenAtMs: number;
  /** The last input seq sent: a resumed session keeps counting up from it. */
  inputSeq: number;
};

/** A token this close to expiry is replaced rather than reused. */
export const TOKEN_REFRESH_MARGIN_SEC = 60;
/** Matches signaling's reconnect window: older sessions cannot be resumed. */
export const RESUME_WINDOW_MS = 30_000;

const SESSION_ID = /^0x[0-9a-f]{64}$/;
const GAME_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

export class SessionStore {
  readonly #storage: StorageLike | undefined;
  readonly #playerKey: string;
  readonly #sessionKey: string;

  /** `scope` keeps players of different servers apart (the signaling base URL). */
  constructor(storage: StorageLike | undefined, scope: string) {
    this.#storage = storage;
    this.#playerKey = `ath-edge:player:${scope}`;
    this.#sessionKey = `ath-edge:session:${scope}`;
  }

  player(nowMs: number): StoredPlayer | undefined {
    const value = this.#read(this.#playerKey);
    if (!isRecord(value)) return undefined;
    const { token, playerId, expiresAtSec } = value;
    if (typeof token !== 'string' || typeof playerId !== 'string' || !isCount(expiresAtSec)) return undefined;
    if (expiresAtSec - TOKEN_REFRESH_MARGIN_SEC <= nowMs / 1000) return undefined;
    return { token, playerId, expiresAtSec };
  }

  savePlayer(player: StoredPlayer): void {
    this.#write(this.#playerKey, player);
  }

  forgetPlayer(): void {
    this.#storage?.removeItem(this.#playerKey);
  }

  /** The stored session, if it is recent enough to be resumed. */
  session(nowMs: number): StoredSession | undefined {
    const value = this.#read(this.#sessionKey);
    if (!isRecord(value)) return undefined;
    const { sessionId, game, seenAtMs, inputSeq } = value;
    if (typeof sessionId !== 'string' || !SESSION_ID.test(sessionId)) return undefined;
    if (typeof game !== 'string' || !GAME_ID.test(game) || !isCount(seenAtMs) || !isCount(inputSeq)) return undefined;
    if (nowMs - seenAtMs > RESUME_WINDOW_MS) return undefined;
    return { sessionId, game, seenAtMs, inputSeq };
  }

  saveSession(session: StoredSession): void {
    this.#write(this.#sessionKey, session);
  }

  forgetSession(): void {
    this.#storage?.removeItem(this.#sessionKey);
  }

  #read(key: string): unknown {
    const text = this.#storage?.getItem(key);
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      // A corrupt entry is as good as none: forget it so it cannot bite again.
      this.#storage?.removeItem(key);
      return undefined;
    }
  }

  #write(key: string, value: unknown): void {
    try {
      this.#storage?.setItem(key, JSON.stringify(value));
    } catch {
      // Storage full or disabled (private mode): the player still works, only reload-resume is lost.
    }
  }
}
