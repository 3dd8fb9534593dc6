import type { Migration } from './Migration.js';

/**
 * A play token carries the studio's signed SessionAuth (issue 8): the chain verifies the studio's own signature
 * when the session is redeemed, so the token is bound to one session id, one provider and one price, and its
 * cap is the authorization's maxAmount.
 */
export const m0002PlayTokenAuth: Migration = {
  version: 2,
  name: 'play-token-auth',
  sql: /* sql */ `
alter table play_tokens
  add column session_id bytes32 unique,
  add column provider_address eth_address,
  add column price_wei_per_sec wei,
  add column auth_expiry_sec uint64,
  add column auth_signature hex_signature;
`,
};
