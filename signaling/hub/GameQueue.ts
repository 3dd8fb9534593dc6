/** Players waiting for a slot, first come first served, one line per game. */
export class GameQueue {
  readonly #lines = new Map<string, string[]>();

  get length(): number {
    let total = 0;
    for (const line of this.#lines.values()) total += line.length;
    return total;
  }

  enqueue(game: string, sessionId: string): number {
    let line = this.#lines.get(game);
    if (!line) {
      line = [];
      this.#lines.set(game, line);
    }
    if (!line.includes(sessionId)) line.push(sessionId);
    return line.indexOf(sessionId) + 1;
  }

  remove(game: string, sessionId: string): boolean {
    const line = this.#lines.get(game);
    const index = line?.indexOf(sessionId) ?? -1;
    if (!line || index < 0) return false;
    line.splice(index, 1);
    if (line.length === 0) this.#lines.delete(game);
    return true;
  }

  /** The waiting sessions of a game, head first. */
  waiting(game: string): readonly string[] {
    return this.#lines.get(game) ?? [];
  }

  games(): IterableIterator<string> {
    return this.#lines.keys();
  }
}
