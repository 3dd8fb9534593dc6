/**
 * A studio play token's session (issue 8), fixed before the lease: the studio signed a SessionAuth for this
 * session id, this provider and this price when it minted the token, so only that provider's hosts at that
 * price can serve it, and no player signature is asked for.
 */
export type Sponsorship = {
  sessionId: `0x${string}`;
  providerAddress: `0x${string}`;
  priceWeiPerSec: bigint;
  playTokenId: string;
};
