import type { LocalAccount } from 'viem';
import {
  type CheckReport,
  checkerDomain,
  checkReportTypes,
  type PeerMessageOf,
} from '../../signaling/protocol/index.js';

export type CheckerDomain = { chainId: number; verifyingContract: `0x${string}` };

/** Signs a CheckReport (EIP-712, domain AthChecker) and puts it in its wire form (uint64 as strings). */
export async function signCheckReport(
  account: LocalAccount,
  domain: CheckerDomain,
  report: CheckReport,
): Promise<Omit<PeerMessageOf<'check-report'>, 'type'>> {
  const signTypedData = account.signTypedData;
  if (!signTypedData) throw new Error('the checker account cannot sign typed data');
  const signature = await signTypedData({
    domain: checkerDomain(domain),
    types: checkReportTypes,
    primaryType: 'CheckReport',
    message: report,
  });
  return {
    report: {
      container: report.container,
      checker: report.checker,
      round: report.round.toString(),
      rttMicros: report.rttMicros,
      fpsMilli: report.fpsMilli,
      lossPpm: report.lossPpm,
      ok: report.ok,
      timestamp: report.timestamp.toString(),
    },
    signature,
  };
}
