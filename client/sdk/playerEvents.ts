/**
 * What an `AthPlayer` tells its page: `Event` subclasses with a literal `type` and a typed `data`, one union,
 * and a typed `addEventListener` (`TypedEventTarget`). `<ath-play>` re-dispatches the same classes as
 * bubbling, composed DOM events, so a studio page listens with `el.addEventListener('playing', …)`.
 */
import type { AthErrorCode, CodecName, EndReasonName } from '../../signaling/protocol/index.js';
import type { StatsSample } from './stats/statsMath.js';

export type PlayerStateName =
  | 'idle'
  | 'connecting'
  | 'ready'
  | 'requesting'
  | 'queued'
  | 'starting'
  | 'playing'
  | 'ended'
  | 'error'
  | 'closed';

export type ReadyData = { peerId: string; protocolVersion: number; reconnected: boolean };
export type QueuedData = { sessionId: string; game: string; position: number };
export type SessionData = {
  sessionId: string;
  hostId: string;
  game: string;
  slot: number;
  resumed: boolean;
  priceWeiPerSec: string;
};
export type PlayingData = {
  sessionId: string;
  game: string;
  codec: CodecName | undefined;
  resumed: boolean;
  /** From the Play call (or the resume) to the first video frame shown. */
  firstFrameMs: number;
};
export type EndedData = { sessionId: string; reason: EndReasonName; message: string };
export type ErrorData = {
  code: AthErrorCode;
  /** For people: what happened and what to do. */
  message: string;
  /** For developers: what the server or the browser said. */
  details: string | undefined;
  /** The session is over or cannot start (false: a warning, the player carries on). */
  fatal: boolean;
  /** The player keeps trying by itself (signaling reconnect). */
  retrying: boolean;
};
export type StateData = { state: PlayerStateName; previous: PlayerStateName };
/** The wallet that pays: its address and free escrow (wei, decimal string), once known. */
export type WalletData = { address: string; kind: 'burner' | 'injected'; freeEscrowWei: string | undefined };
export type PaidData = { sessionId: string; payerAddress: string };
/** The running charge of the session (wei as decimal strings), every metering tick. */
export type ChargeData = { sessionId: string; cumulativeWei: string; deliveredSec: number; maxAmountWei: string };
/** A host frame mark matched with its presented frame: input `inputSeq` first shown at `presentedAtMs`. */
export type FrameMarkData = { inputSeq: number; frame: number; rtpTimestamp: number; presentedAtMs: number };

abstract class AthPlayerEvent<T extends string, D> extends Event {
  declare readonly type: T;
  readonly data: D;
  constructor(type: T, data: D, init?: EventInit) {
    super(type, init);
    this.data = data;
  }
  /** The same as `data`, for pages used to `CustomEvent.detail`. */
  get detail(): D {
    return this.data;
  }
}

/** Connected to signaling (after `welcome`); Play can be pressed. Fires again after a reconnect. */
export class PlayerReadyEvent extends AthPlayerEvent<'ready', ReadyData> {
  constructor(data: ReadyData, init?: EventInit) {
    super('ready', data, init);
  }
}
/** Every slot is taken: waiting in line at `position` (1 = next). */
export class PlayerQueuedEvent extends AthPlayerEvent<'queued', QueuedData> {
  constructor(data: QueuedData, init?: EventInit) {
    super('queued', data, init);
  }
}
/** A render host slot was leased for this player; the stream is being connected. */
export class PlayerSessionEvent extends AthPlayerEvent<'session', SessionData> {
  constructor(data: SessionData, init?: EventInit) {
    super('session', data, init);
  }
}
/** The first video frame is on screen. */
export class PlayerPlayingEvent extends AthPlayerEvent<'playing', PlayingData> {
  constructor(data: PlayingData, init?: EventInit) {
    super('playing', data, init);
  }
}
/** Once a second while streaming. */
export class PlayerStatsEvent extends AthPlayerEvent<'stats', StatsSample> {
  constructor(data: StatsSample, init?: EventInit) {
    super('stats', data, init);
  }
}
/** The session is over (quit, host lost, AFK, …); `message` says why, for people. */
export class PlayerEndedEvent extends AthPlayerEvent<'ended', EndedData> {
  constructor(data: EndedData, init?: EventInit) {
    super('ended', data, init);
  }
}
export class PlayerErrorEvent extends AthPlayerEvent<'error', ErrorData> {
  constructor(data: ErrorData, init?: EventInit) {
    super('error', data, init);
  }
}
export class PlayerStateEvent extends AthPlayerEvent<'statechange', StateData> {
  constructor(data: StateData, init?: EventInit) {
    super('statechange', data, init);
  }
}
/** A host frame mark was matched with the presented frame it names (input→photon, frame counter). */
export class PlayerFrameMarkEvent extends AthPlayerEvent<'framemark', FrameMarkData> {
  constructor(data: FrameMarkData, init?: EventInit) {
    super('framemark', data, init);
  }
}

export class PlayerWalletEvent extends AthPlayerEvent<'wallet', WalletData> {
  constructor(data: WalletData, init?: EventInit) {
    super('wallet', data, init);
  }
}

export class PlayerPaidEvent extends AthPlayerEvent<'paid', PaidData> {
  constructor(data: PaidData, init?: EventInit) {
    super('paid', data, init);
  }
}

export class PlayerChargeEvent extends AthPlayerEvent<'charge', ChargeData> {
  constructor(data: ChargeData, init?: EventInit) {
    super('charge', data, init);
  }
}

export type AthPlayerEventMap = {
  ready: PlayerReadyEvent;
  queued: PlayerQueuedEvent;
  session: PlayerSessionEvent;
  playing: PlayerPlayingEvent;
  stats: PlayerStatsEvent;
  ended: PlayerEndedEvent;
  error: PlayerErrorEvent;
  statechange: PlayerStateEvent;
  framemark: PlayerFrameMarkEvent;
  wallet: PlayerWalletEvent;
  paid: PlayerPaidEvent;
  charge: PlayerChargeEvent;
};

export type AthPlayerEventType = keyof AthPlayerEventMap;
export type AthPlayerEventUnion = AthPlayerEventMap[AthPlayerEventType];

/** The events `<ath-play>` re-dispatches on itself (bubbling, composed). */
export const ELEMENT_EVENT_TYPES = [
  'ready',
  'queued',
  'playing',
  'stats',
  'ended',
  'error',
  'wallet',
  'paid',
  'charge',
] as const;

/** Re-creates an event with other init flags (an `Event` cannot be dispatched twice). */
export function cloneAthPlayerEvent(event: AthPlayerEventUnion, init: EventInit): AthPlayerEventUnion {
  switch (event.type) {
    case 'ready':
      return new PlayerReadyEvent(event.data, init);
    case 'queued':
      return new PlayerQueuedEvent(event.data, init);
    case 'session':
      return new PlayerSessionEvent(event.data, init);
    case 'playing':
      return new PlayerPlayingEvent(event.data, init);
    case 'stats':
      return new PlayerStatsEvent(event.data, init);
    case 'ended':
      return new PlayerEndedEvent(event.data, init);
    case 'error':
      return new PlayerErrorEvent(event.data, init);
    case 'statechange':
      return new PlayerStateEvent(event.data, init);
    case 'framemark':
      return new PlayerFrameMarkEvent(event.data, init);
    case 'wallet':
      return new PlayerWalletEvent(event.data, init);
    case 'paid':
      return new PlayerPaidEvent(event.data, init);
    case 'charge':
      return new PlayerChargeEvent(event.data, init);
  }
}

type Listener<E> = ((event: E) => void) | { handleEvent(event: E): void };

/** An `EventTarget` whose `addEventListener` knows each event's class; `on` returns its unsubscribe. */
export class TypedEventTarget<M extends Record<string, Event>> extends EventTarget {
  override addEventListener<K extends keyof M & string>(
    type: K,
    listener: Listener<M[K]> | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener as EventListenerOrEventListenerObject | null, options);
  }

  override removeEventListener<K extends keyof M & string>(
    type: K,
    listener: Listener<M[K]> | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener as EventListenerOrEventListenerObject | null, options);
  }

  on<K extends keyof M & string>(type: K, listener: (event: M[K]) => void): () => void {
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  /** Dispatches to every listener; a listener that throws is reported, never breaks the player. */
  protected emit(event: M[keyof M]): void {
    this.dispatchEvent(event);
  }
}
