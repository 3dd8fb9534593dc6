import { AthError, type WireErrorCode } from '../protocol/index.js';

/**
 * A refusal that passes with time (`ATH_ERR_RATE_LIMITED`, `ATH_ERR_UNPAID_SESSIONS`): the `error` reply carries
 * `retryAfterMs`, the time after which the same request would be taken.
 */
export class RetryLaterError extends AthError {
  readonly retryAfterMs: number;

  constructor(code: WireErrorCode, shortMessage: string, retryAfterMs: number) {
    super({ code, shortMessage });
    this.retryAfterMs = Math.max(0, Math.ceil(retryAfterMs));
  }
}
