import type { QueueStore } from './SignalingStore.js';

/** Players waiting for a slot, first come first served, one line per game (in memory). */
export class GameQueue implements QueueStore {
  readonly #lines = new Map<string, string[]>();
  readonly #members = new Set<string>();

  get length(): number {
    return this.#members.size;
  }

  enqueue(game: string, sessionId: string): number {
    let line = this.#lines.get(game);
    if (!line) {
      line = [];
      this.#lines.set(game, line);
    }
    if (!this.#members.has(sessionId)) {
      line.push(sessionId);
      this.#members.add(sessionId);
      return line.length;
    }
    return line.indexOf(sessionId) + 1;
  }

  remove(game: string, sessionId: string): boolean {
    const line = this.#lines.get(game);
    if (!line || !this.#members.has(sessionId)) return false;
    const index = line.indexOf(sessionId);
    if (index < 0) return false;
    line.splice(index, 1);
    this.#members.delete(sessionId);
    if (line.length === 0) this.#lines.delete(game);
    return true;
  }

  waiting(game: string): readonly string[] {
    return this.#lines.get(game) ?? [];
  }

  games(): IterableIterator<string> {
    return this.#lines.keys();
  }
}
