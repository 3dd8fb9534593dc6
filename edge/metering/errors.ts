/** Error codes of metering. */
export const MeteringErrorCode = {
  badVoucher: 'ATH_ERR_VOUCHER_INVALID',
  staleVoucher: 'ATH_ERR_VOUCHER_STALE',
  overCap: 'ATH_ERR_OVER_CAP',
} as const;

export type MeteringErrorCode = (typeof MeteringErrorCode)[keyof typeof MeteringErrorCode];

declare module '../../signaling/protocol/AthError.js' {
  interface AthErrorCodes {
    metering: MeteringErrorCode;
  }
}
