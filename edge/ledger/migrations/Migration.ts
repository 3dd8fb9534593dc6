/** One schema step. `sql` is applied once, in a transaction, and never edited after release (a checksum guards it). */
export type Migration = {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
};
