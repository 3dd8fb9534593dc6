/**
 * Test hooks that make a real render host worse on purpose. They exist so tests (and a running test stack)
 * can prove that checkers catch a degraded container — a host capped to 10 fps, or one whose data channel
 * answers 200 ms late — with the real media path, not a scripted fake. Nothing in production turns them on:
 * they come from `renderHost.testHooks` in the config or from `POST /test-hooks`, which the host serves only
 * when the config enables it.
 *
 * - `fpsCap`: send at most this many video frames per second (the game keeps its own clock; frames above the
 *   cap are not sent and count as dropped). Applies to every session (a checker's probe is one).
 * - `dataChannelDelayMs`: hold every data-channel reply (pong) this long before sending it.
 * - `forgePongAheadMs`: a lying host — add this much to the time a pong echoes, to look closer than it is (a
 *   checker that trusted the echoed time would measure the RTT that much shorter).
 */
import { type Static, Type } from '@sinclair/typebox';

export const TestHooksSchema = Type.Object(
  {
    fpsCap: Type.Optional(Type.Integer({ minimum: 1, maximum: 240 })),
    dataChannelDelayMs: Type.Integer({ minimum: 0, maximum: 10_000 }),
    forgePongAheadMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  },
  { additionalProperties: false },
);
export type TestHooks = Static<typeof TestHooksSchema>;

export const NO_TEST_HOOKS: TestHooks = Object.freeze({ dataChannelDelayMs: 0 });

/** The host's current hooks, and who to tell when they change (live sessions). */
export class TestHookSwitch {
  #current: TestHooks;
  readonly #listeners = new Set<(hooks: TestHooks) => void | Promise<void>>();

  constructor(initial: TestHooks = NO_TEST_HOOKS) {
    this.#current = { ...initial };
  }

  get current(): TestHooks {
    return { ...this.#current };
  }

  /** Switches the hooks; resolves once every live stream has applied them (so a test can measure at once). */
  async set(hooks: TestHooks): Promise<void> {
    this.#current = { ...hooks };
    await Promise.allSettled([...this.#listeners].map(async (listener) => listener(this.current)));
  }

  /** Calls `listener` on every change (`set` waits for what it returns); returns the unsubscribe function. */
  onChange(listener: (hooks: TestHooks) => void | Promise<void>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
