import { Type } from '@sinclair/typebox';

/**
 * Error codes that can travel on the wire in `{ type: 'error', code }` replies and session-end messages.
 * Clients switch on these; keep them stable. Each one says what the user or peer did or can do.
 */
export const WIRE_ERROR_CODES = [
  'ATH_ERR_BAD_MESSAGE',
  'ATH_ERR_MESSAGE_TOO_LARGE',
  'ATH_ERR_UNKNOWN_TYPE',
  'ATH_ERR_HELLO_REQUIRED',
  'ATH_ERR_PROTOCOL_VERSION',
  'ATH_ERR_NOT_ALLOWED',
  'ATH_ERR_UNAUTHORIZED',
  'ATH_ERR_TOKEN_EXPIRED',
  'ATH_ERR_NOT_YOUR_SESSION',
  'ATH_ERR_SESSION_NOT_FOUND',
  'ATH_ERR_UNKNOWN_GAME',
  'ATH_ERR_NO_FREE_SLOT',
  'ATH_ERR_ALREADY_PLAYING',
  'ATH_ERR_CODEC_UNSUPPORTED',
  'ATH_ERR_HOST_LOST',
  'ATH_ERR_HOST_REJECTED',
  'ATH_ERR_BAD_SIGNATURE',
  'ATH_ERR_NOT_ASSIGNED',
  'ATH_ERR_REPLAY',
  'ATH_ERR_RATE_LIMITED',
  'ATH_ERR_HELLO_TIMEOUT',
  'ATH_ERR_STAKE_TOO_LOW',
  'ATH_ERR_SLOTS_EXCEEDED',
  /** A host that does not keep a probe reserve (`register.probeReserve`: 1) is not admitted. */
  'ATH_ERR_NO_PROBE_RESERVE',
  'ATH_ERR_PRICE_OUT_OF_BOUNDS',
  'ATH_ERR_BAD_PROBE_URL',
  'ATH_ERR_HOST_ID_UNBOUND',
  'ATH_ERR_INSUFFICIENT_FUNDS',
  'ATH_ERR_ORIGIN_NOT_ALLOWED',
  'ATH_ERR_CAP_EXHAUSTED',
  /** Play refused: several sessions of this address or player token ended before payment was authorized. */
  'ATH_ERR_UNPAID_SESSIONS',
  'ATH_ERR_INTERNAL',
] as const;

export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

export const WireErrorCodeSchema = Type.Union(WIRE_ERROR_CODES.map((code) => Type.Literal(code)));

export function isWireErrorCode(code: string): code is WireErrorCode {
  return (WIRE_ERROR_CODES as readonly string[]).includes(code);
}
