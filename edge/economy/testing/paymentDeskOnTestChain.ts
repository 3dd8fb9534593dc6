import type { Logger } from 'pino';
import type { TestChain } from '../../chain/testing/startTestChain.js';
import type { Ledger } from '../../ledger/index.js';
import { PaymentDesk, type PaymentDeskParameters } from '../PaymentDesk.js';

export type PaymentDeskOnTestChainParameters = {
  chain: TestChain;
  ledger: Ledger;
  log: Logger;
  /** How long a session may stream before its SessionAuth must arrive (tests of the deadline shorten it). */
  authTimeoutMs?: number;
  instanceId?: PaymentDeskParameters['instanceId'];
};

/**
 * The payment desk the economy tests share: the test chain's escrow, sessions of up to an hour, authorizations
 * valid four hours, checked as the meter (the settler's sender) will redeem them.
 */
export function paymentDeskOnTestChain(params: PaymentDeskOnTestChainParameters): PaymentDesk {
  const { chain } = params;
  return new PaymentDesk({
    settings: {
      chainId: chain.anvil.chainId,
      escrowAddress: chain.escrowAddress,
      maxSessionSeconds: 3600,
      authExpirySec: 4 * 3600,
      authTimeoutMs: params.authTimeoutMs ?? 60_000,
    },
    ledger: params.ledger,
    publicClient: chain.publicClient,
    redeemerAddress: chain.meter.address,
    log: params.log,
    ...(params.instanceId === undefined ? {} : { instanceId: params.instanceId }),
  });
}
