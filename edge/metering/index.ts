// Metering: the meter's voucher signing and the fast EIP-712 verification of our structs.

export {
  type Eip712Domain,
  SignatureVerifier,
  signDigest,
  type TypedDigests,
  typedDigests,
} from '../../signaling/crypto/fastTypedData.js';
export { MeteringErrorCode } from './errors.js';
export {
  DEFAULT_METER_SETTINGS,
  type EscrowReader,
  METER_END_MESSAGES,
  Meter,
  type MeterParameters,
  type MeterSettings,
} from './Meter.js';
export { createVoucherSigner, cumulativeChargeWei, type VoucherSigner } from './signVoucher.js';
