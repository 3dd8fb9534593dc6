import type { Logger } from 'pino';

type EventMap = Record<string, unknown[]>;
type Listener<A extends unknown[]> = (...args: A) => void;

/**
 * A typed event emitter (`{ ended: [reason, message] }`) whose `safeEmit` logs a throwing listener instead of
 * letting it break the emitter's own control flow (one bad listener must not end a session).
 */
export class TypedEmitter<E extends EventMap> {
  readonly #listeners = new Map<keyof E, Set<Listener<unknown[]>>>();
  readonly #log: Logger | undefined;

  constructor(log?: Logger) {
    this.#log = log;
  }

  /** Subscribes; returns the unsubscribe. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as unknown as Listener<unknown[]>);
    return () => this.off(event, listener);
  }

  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (...args: E[K]) => {
      off();
      listener(...args);
    });
    return off;
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.#listeners.get(event)?.delete(listener as unknown as Listener<unknown[]>);
  }

  listenerCount<K extends keyof E>(event: K): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }

  /** Calls every listener; one that throws is logged and the others still run. */
  safeEmit<K extends keyof E>(event: K, ...args: E[K]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        listener(...args);
      } catch (error) {
        this.#log?.error({ err: error, event: String(event) }, 'event listener threw');
      }
    }
  }
}
