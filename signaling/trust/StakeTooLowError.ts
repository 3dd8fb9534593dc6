import { AthError, formatAth, weiToString } from '../protocol/index.js';

export type StakeShortfall = { tier: string | undefined; stakeWei: bigint; minStakeWei: bigint };

/**
 * A refusal for want of stake (`ATH_ERR_STAKE_TOO_LOW`, a wire code): says which tier, what is staked and what is
 * missing, in words and in wei — the `error` reply carries it as its `stake` field.
 */
export class StakeTooLowError extends AthError {
  readonly stake: { tier?: string; stakeWei: string; minStakeWei: string; missingWei: string };

  constructor(shortMessage: string, { tier, stakeWei, minStakeWei }: StakeShortfall) {
    const missingWei = minStakeWei > stakeWei ? minStakeWei - stakeWei : 0n;
    super({
      code: 'ATH_ERR_STAKE_TOO_LOW',
      shortMessage: `${shortMessage}: ${formatAth(missingWei)} (${weiToString(missingWei)} wei) missing`,
    });
    this.stake = {
      ...(tier === undefined ? {} : { tier }),
      stakeWei: weiToString(stakeWei),
      minStakeWei: weiToString(minStakeWei),
      missingWei: weiToString(missingWei),
    };
  }
}
