/**
 * The gas limit a transaction is signed with: the node's estimate plus headroom. The estimate is exact for the state
 * and block it ran against, and a transaction lands in a later block: a storage write the estimate found a no-op may
 * not be one there. The StakingRegistry stamps an operator's `lastChangeAt` with the block time on every stake
 * change (a slash included) — estimated in a block of the same second as the operator's last change it costs 100
 * gas, mined a second later 2,900, and the slash runs out of gas and reverts after its dry run passed (seen on anvil,
 * whose blocks share a second; on Arbitrum several blocks do). A write to a fresh slot costs 20,000: the headroom
 * covers a few, growing with the transaction (half its estimate) up to a bound, so that a large settlement batch
 * is not signed for more than a block holds. Unused gas is not charged.
 */
export function gasWithHeadroom(estimate: bigint): bigint {
  const half = estimate / 2n;
  const headroom = half < MIN_HEADROOM ? MIN_HEADROOM : half > MAX_HEADROOM ? MAX_HEADROOM : half;
  return estimate + headroom;
}

const MIN_HEADROOM = 60_000n;
const MAX_HEADROOM = 500_000n;
