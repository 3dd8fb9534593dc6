/**
 * The per-session timers of this instance: `lease` (lease TTL until streaming, the probe wait, or the reconnect
 * window while the player is away) and `auth` (the payment authorization deadline after the lease). Setting a
 * kind replaces the previous timer of that kind.
 */
export type SessionTimerKind = 'lease' | 'auth';

export class SessionTimers {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #closed = false;

  set(sessionId: string, kind: SessionTimerKind, ms: number, fire: () => void): void {
    if (this.#closed) return;
    const key = `${kind}:${sessionId}`;
    clearTimeout(this.#timers.get(key));
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      fire();
    }, ms);
    timer.unref();
    this.#timers.set(key, timer);
  }

  clear(sessionId: string, kind: SessionTimerKind): void {
    const key = `${kind}:${sessionId}`;
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
  }

  has(sessionId: string, kind: SessionTimerKind): boolean {
    return this.#timers.has(`${kind}:${sessionId}`);
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }
}
