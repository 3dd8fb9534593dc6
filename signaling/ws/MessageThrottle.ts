import type { AdmissionControl, AdmissionRefusal } from '../admission/AdmissionControl.js';
import type { TokenBucket } from '../admission/TokenBucket.js';
import type { ServerMessageOf } from '../protocol/index.js';

/** At most one `ATH_ERR_RATE_LIMITED` reply per socket in this time: the replies must not flood either. */
const REPLY_INTERVAL_MS = 1_000;

export type ThrottleVerdict =
  | { action: 'take' }
  | { action: 'drop' }
  | { action: 'reply'; reply: ServerMessageOf<'error'> }
  | { action: 'close' };

/**
 * One socket's view of admission control, for either transport: each incoming message is taken, dropped,
 * dropped with a rate-limit reply (once a second), or — after more refused messages in a row than four times
 * the socket's burst — the socket is to be closed (4029).
 */
export class MessageThrottle {
  readonly #bucket: TokenBucket;
  #refusedInARow = 0;
  #lastReplyMs = Number.NEGATIVE_INFINITY;

  constructor(bucket: TokenBucket) {
    this.#bucket = bucket;
  }

  admit(admission: AdmissionControl, ip: string, nowMs = performance.now()): ThrottleVerdict {
    const waitMs = admission.admitMessage(this.#bucket, ip);
    if (waitMs === 0) {
      this.#refusedInARow = 0;
      return { action: 'take' };
    }
    this.#refusedInARow += 1;
    if (this.#refusedInARow > admission.settings.messagesPerSocket.burst * 4) return { action: 'close' };
    if (nowMs - this.#lastReplyMs < REPLY_INTERVAL_MS) return { action: 'drop' };
    this.#lastReplyMs = nowMs;
    return {
      action: 'reply',
      reply: {
        type: 'error',
        code: 'ATH_ERR_RATE_LIMITED',
        message: 'too many messages: this one was dropped; slow down',
        retryAfterMs: waitMs,
      },
    };
  }
}

/** Messages a new socket may send while the network's count of its address is asked (more are dropped). */
export const MAX_WAITING_MESSAGES = 16;

/** What a socket the network's per-address counts refused hears before it is closed (4029). */
export function refusedByNetwork(refusal: AdmissionRefusal): ServerMessageOf<'error'> {
  return {
    type: 'error',
    code: 'ATH_ERR_RATE_LIMITED',
    message: refusal.why,
    retryAfterMs: refusal.retryAfterMs,
  };
}
