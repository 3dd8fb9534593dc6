import { OrderedLine } from './OrderedLine.js';
import type { QueueStore } from './SignalingStore.js';

/** Players waiting for a slot, first come first served, one line per game (in memory, O(log n) per change). */
export class GameQueue implements QueueStore {
  readonly #lines = new Map<string, OrderedLine>();
  #length = 0;

  get length(): number {
    return this.#length;
  }

  enqueue(game: string, sessionId: string, score?: number): number {
    let line = this.#lines.get(game);
    if (!line) {
      line = new OrderedLine();
      this.#lines.set(game, line);
    }
    const before = line.size;
    const position = line.enqueue(sessionId, score);
    this.#length += line.size - before;
    return position;
  }

  remove(game: string, sessionId: string): boolean {
    const line = this.#lines.get(game);
    if (!line?.remove(sessionId)) return false;
    this.#length -= 1;
    if (line.size === 0) this.#lines.delete(game);
    return true;
  }

  position(game: string, sessionId: string): number | undefined {
    return this.#lines.get(game)?.position(sessionId);
  }

  first(game: string): string | undefined {
    return this.#lines.get(game)?.first();
  }

  size(game: string): number {
    return this.#lines.get(game)?.size ?? 0;
  }

  waiting(game: string): Iterable<string> {
    return this.#lines.get(game) ?? [];
  }

  games(): IterableIterator<string> {
    return this.#lines.keys();
  }
}
