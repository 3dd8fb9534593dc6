/**
 * One first-come-first-served line with O(log n) enqueue, removal from anywhere and position lookup: entries
 * keep their arrival index, a Fenwick tree counts who is still waiting before an index, and the head moves
 * forward past the departed. The backing arrays are compacted when departed entries outnumber the waiting
 * ones (amortised O(1) per change).
 */
export class OrderedLine {
  /** id → arrival index (relative to the current arrays). */
  readonly #indexOf = new Map<string, number>();
  /** arrival index → id, or undefined once it left. */
  #ids: Array<string | undefined> = [];
  /** arrival index → the order key it was enqueued with (non-decreasing along `#ids`). */
  #scores: number[] = [];
  /** Fenwick tree over `#ids` (1-based): 1 per waiting entry. */
  #tree: Int32Array = new Int32Array(1025);
  #head = 0;

  get size(): number {
    return this.#indexOf.size;
  }

  has(id: string): boolean {
    return this.#indexOf.has(id);
  }

  /**
   * Adds at the tail, or — with an order key lower than the tail's (an entry another instance made a moment
   * earlier) — at its place by key; no-op if waiting already. Returns the 1-based position.
   */
  enqueue(id: string, score?: number): number {
    const known = this.position(id);
    if (known !== undefined) return known;
    const tailScore = this.#scores[this.#scores.length - 1] ?? Number.NEGATIVE_INFINITY;
    const key = score ?? Math.max(tailScore, 0);
    if (key < tailScore) {
      const waiting = [...this.#entries()];
      let at = waiting.length;
      while (at > 0 && (waiting[at - 1]?.[1] ?? 0) > key) at--;
      waiting.splice(at, 0, [id, key]);
      this.#rebuild(Math.max(1024, waiting.length * 2 + 2), waiting);
      return at + 1;
    }
    if (this.#ids.length + 1 >= this.#tree.length) this.#rebuild(Math.max(1024, this.#indexOf.size * 2 + 2));
    const index = this.#ids.length;
    this.#ids.push(id);
    this.#scores.push(key);
    this.#indexOf.set(id, index);
    this.#add(index, 1);
    return this.#indexOf.size;
  }

  remove(id: string): boolean {
    const index = this.#indexOf.get(id);
    if (index === undefined) return false;
    this.#indexOf.delete(id);
    this.#ids[index] = undefined;
    this.#add(index, -1);
    while (this.#head < this.#ids.length && this.#ids[this.#head] === undefined) this.#head++;
    if (this.#head > 1024 && this.#head > this.#indexOf.size) this.#rebuild(Math.max(1024, this.#indexOf.size * 2 + 2));
    return true;
  }

  /** 1-based position, or undefined when not waiting. */
  position(id: string): number | undefined {
    const index = this.#indexOf.get(id);
    return index === undefined ? undefined : this.#prefix(index);
  }

  first(): string | undefined {
    return this.#ids[this.#head];
  }

  /** The waiting ids, head first (a lazy walk; stop early to pay only for what is read). */
  *[Symbol.iterator](): IterableIterator<string> {
    for (let i = this.#head; i < this.#ids.length; i++) {
      const id = this.#ids[i];
      if (id !== undefined) yield id;
    }
  }

  #add(index: number, delta: number): void {
    for (let i = index + 1; i < this.#tree.length; i += i & -i) this.#tree[i] = (this.#tree[i] ?? 0) + delta;
  }

  /** Waiting entries with arrival index ≤ `index`. */
  #prefix(index: number): number {
    let sum = 0;
    for (let i = index + 1; i > 0; i -= i & -i) sum += this.#tree[i] ?? 0;
    return sum;
  }

  *#entries(): IterableIterator<[string, number]> {
    for (let i = this.#head; i < this.#ids.length; i++) {
      const id = this.#ids[i];
      if (id !== undefined) yield [id, this.#scores[i] ?? 0];
    }
  }

  #rebuild(capacity: number, waiting: Array<[string, number]> = [...this.#entries()]): void {
    this.#ids = waiting.map(([id]) => id);
    this.#scores = waiting.map(([, score]) => score);
    this.#head = 0;
    this.#indexOf.clear();
    this.#tree = new Int32Array(Math.max(capacity, waiting.length * 2 + 2) + 1);
    for (const [index, id] of this.#ids.entries()) {
      this.#indexOf.set(id as string, index);
      this.#add(index, 1);
    }
  }
}
