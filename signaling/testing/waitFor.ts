/**
 * Polling for tests: wait until a condition holds, or until something shows up, with a deadline and a message
 * that says what never came. (Test files each had their own copy; this is the one they share.)
 */
export type WaitOptions = {
  /** What is awaited, for the error when it does not come ("timed out waiting for <what>"). */
  what?: string;
  /** Default 10 s. */
  timeoutMs?: number;
  /** Default 20 ms. */
  intervalMs?: number;
};

/** Resolves once `predicate` holds; rejects after `timeoutMs`. */
export async function waitUntil(predicate: () => boolean | Promise<boolean>, options: WaitOptions = {}): Promise<void> {
  await waitFind(async () => ((await predicate()) ? true : undefined), options);
}

/** Resolves with the first value `find` returns other than undefined; rejects after `timeoutMs`. */
export async function waitFind<T>(
  find: () => T | undefined | Promise<T | undefined>,
  { what = 'the condition', timeoutMs = 10_000, intervalMs = 20 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
