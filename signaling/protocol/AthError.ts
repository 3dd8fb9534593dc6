/**
 * The one error type of ath-edge. Every failure that crosses a module boundary is an AthError with a
 * stable `code` (grep the code to find its throw). Codes are declared in each folder's `errors.ts`;
 * the ones that travel on the wire are listed in `wireErrorCodes.ts`.
 */
import type { ProtocolErrorCode } from './errors.js';
import type { WireErrorCode } from './wireErrorCodes.js';

/**
 * The registry of error-code lists: one entry per folder, added by that folder's `errors.ts` with
 *
 *     declare module '<relative path>/signaling/protocol/AthError.js' {
 *       interface AthErrorCodes { ledger: LedgerErrorCode }
 *     }
 *
 * so that the lists stay with their folders and nothing here changes when a folder adds a code.
 */
export interface AthErrorCodes {
  wire: WireErrorCode;
  protocol: ProtocolErrorCode;
}

/** Every error code of ath-edge: the union of the folders' lists. A code no list declares does not compile. */
export type AthErrorCode = AthErrorCodes[keyof AthErrorCodes];

export type AthErrorParameters = {
  code: AthErrorCode;
  shortMessage: string;
  details?: string;
  cause?: unknown;
};

export class AthError extends Error {
  override readonly name = 'AthError';
  readonly code: AthErrorCode;
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor({ code, shortMessage, details, cause }: AthErrorParameters) {
    super(details ? `${shortMessage}: ${details}` : shortMessage, cause === undefined ? undefined : { cause });
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = details;
  }

  /** Walks the `cause` chain and returns the first error the predicate accepts (or the deepest one). */
  walk(predicate?: (error: unknown) => boolean): unknown {
    let current: unknown = this;
    for (;;) {
      if (predicate?.(current)) return current;
      const next = current instanceof Error ? current.cause : undefined;
      if (next === undefined) return predicate ? undefined : current;
      current = next;
    }
  }
}

export function isAthError(error: unknown, code?: AthErrorCode): error is AthError {
  return error instanceof AthError && (code === undefined || error.code === code);
}

/** Wraps anything thrown into an AthError, keeping AthErrors as they are. */
export function toAthError(error: unknown, code: AthErrorCode, shortMessage: string): AthError {
  if (error instanceof AthError) return error;
  const details = error instanceof Error ? error.message : String(error);
  return new AthError({ code, shortMessage, details, cause: error });
}
