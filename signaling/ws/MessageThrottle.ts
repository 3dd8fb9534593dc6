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
const MAX_WAITING_MESSAGES = 16;

export type AwaitNetworkAdmissionParameters<T> = {
  /** `admission.confirmShared(place)`: undefined when there is nothing to wait for (one instance). */
  shared: Promise<AdmissionRefusal | undefined> | undefined;
  /** Introduces the socket to the hub. */
  attach: () => void;
  /** Hands one waiting message to the hub. */
  receive: (message: T) => void;
  /** Tells the socket why the network refused it, and closes it (4029). */
  refuse: (refusal: AdmissionRefusal) => void;
  isClosed: () => boolean;
};

/**
 * A new socket against the network's per-address count, for either transport: the hub hears of the socket only
 * once the network admitted it, and the messages that come meanwhile wait in order (at most
 * MAX_WAITING_MESSAGES; more are dropped) and are handed over then. Refused, the socket hears why and is closed.
 * With nothing to wait for, the socket is attached at once. Returns `hold`: true when it took the message
 * (`copy()` is called only then), false when the caller hands it to the hub itself.
 */
export function awaitNetworkAdmission<T>({
  shared,
  attach,
  receive,
  refuse,
  isClosed,
}: AwaitNetworkAdmissionParameters<T>): (copy: () => T) => boolean {
  if (!shared) {
    attach();
    return () => false;
  }
  let waiting: T[] | undefined = [];
  void shared.then((refusal) => {
    const held = waiting ?? [];
    waiting = undefined;
    if (isClosed()) return;
    if (refusal) {
      refuse(refusal);
      return;
    }
    attach();
    for (const message of held) receive(message);
  });
  return (copy) => {
    if (!waiting) return false;
    if (waiting.length < MAX_WAITING_MESSAGES) waiting.push(copy());
    return true;
  };
}

/** What a socket the network's per-address counts refused hears before it is closed (4029). */
export function refusedByNetwork(refusal: AdmissionRefusal): ServerMessageOf<'error'> {
  return {
    type: 'error',
    code: 'ATH_ERR_RATE_LIMITED',
    message: refusal.why,
    retryAfterMs: refusal.retryAfterMs,
  };
}
