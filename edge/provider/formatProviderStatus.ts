/**
 * `ath-edge provider status` for people: the provider's hosts, sessions, quality, money and stake, and what
 * earned trust says about it — each slash with its evidence, its rewards and the next payout, its checks.
 */
import { formatAth, type OperatorTrustView, type ProviderStatus } from '../../signaling/protocol/index.js';

export function formatProviderStatus(status: ProviderStatus): string {
  const lines = [`Provider ${status.address}`];
  const { stake } = status;
  lines.push(
    `  Stake:     ${formatAth(stake.stakeWei)}${stake.tier ? ` (tier ${stake.tier}, minimum ${formatAth(stake.minStakeWei)})` : ' — not staked'}`,
  );
  if (stake.unbonding) {
    lines.push(
      `             unbonding ${formatAth(stake.unbonding.amountWei)} until ${new Date(stake.unbonding.unlockAtSec * 1000).toISOString()}`,
    );
  }
  lines.push(
    `  Slashes:   ${status.slashes.count}${status.slashes.count ? ` (${formatAth(status.slashes.slashedWei)} taken)` : ''}`,
  );
  for (const slash of status.slashes.list.slice(-5)) {
    lines.push(`             ${slash.createdAt} ${formatAth(slash.amountWei)} ${slash.state}: ${slash.reason}`);
  }
  if (status.drain) {
    lines.push(
      `  DRAINED:   no new sessions since ${status.drain.drainedAt}: ${status.drain.reason}`,
      `             probation: ${status.drain.probationPasses} of ${status.drain.probationNeeded} passing checks`,
    );
  }
  lines.push(
    `  Slots:     ${status.slots.busy} busy / ${status.slots.total} (${status.slots.free} free)`,
    `  Sessions:  ${status.sessions.live} live, ${status.sessions.total} paid so far`,
    `  Quality:   ${status.qualityScore === null ? '—' : status.qualityScore.toFixed(2)} (0..1, from checkers; 0.5 until they report)`,
    `  Earnings:  ${formatAth(status.earnings.earnedWei)} earned, ${formatAth(status.earnings.withdrawableWei)} withdrawable from the escrow`,
    `             ${formatAth(status.earnings.grossChargedWei)} charged to players, ${formatAth(status.earnings.grossSettledWei)} settled`,
  );
  lines.push(...formatTrust(status.trust));
  lines.push(`  Hosts:     ${status.hosts.length ? '' : 'none registered with this signaling server'}`);
  for (const host of status.hosts) {
    lines.push(
      `    ${host.hostId}  ${host.state}  ${host.country}  ${host.gpu}  slots ${host.slots - host.freeSlots}/${host.slots}  quality ${host.qualityScore.toFixed(2)}  stake ${formatAth(host.stakeWei)}`,
      `      games ${host.games.join(', ')}  ·  metrics ${host.metricsUrl}`,
      ...(host.drainReason ? [`      out of service: ${host.drainReason}`] : []),
    );
  }
  return lines.join('\n');
}

const utc = (sec: string | number) => new Date(Number(sec) * 1000).toISOString().replace('.000Z', 'Z');

/** Slashes with their evidence, rewards and their schedule, the latest checks. */
export function formatTrust(trust: OperatorTrustView): string[] {
  const { schedule, rewards } = trust;
  const lines = [
    `  Rewards:   ${formatAth(rewards.claimableWei)} claimable (ath-edge stake claim), ${formatAth(rewards.paidWei)} paid so far${rewards.barredUntilSec ? ` — barred until ${utc(rewards.barredUntilSec)}` : ''}`,
    `             epoch ${schedule.epoch} ends ${utc(schedule.nextEpochStartSec)} (stakers: ${schedule.stakerShareBps / 100} % of the pool); checker pay every ${schedule.checkerPeriodSec} s, next ${utc(schedule.nextCheckerPeriodEndSec)}`,
  ];
  for (const share of rewards.recent.slice(0, 5)) {
    lines.push(
      `             ${share.kind} ${utc(share.startSec)}..${utc(share.endSec)}  ${formatAth(share.amountWei)}  ${share.state}/${share.payoutState}${share.txHash ? `  tx ${share.txHash}` : ''}`,
    );
  }
  if (trust.slashes.length > 0) lines.push(`  Evidence:  ${trust.slashes.length} slash decision(s)`);
  for (const slash of trust.slashes.slice(0, 5)) {
    const taken =
      slash.slashedWei === null
        ? formatAth(slash.amountWei)
        : `${formatAth(slash.slashedWei)} (${formatAth(slash.fromRewardsWei ?? '0')} from rewards, ${formatAth(slash.fromStakeWei ?? '0')} from stake)`;
    const where = slash.container ? ` ${slash.container}${slash.round ? ` round ${slash.round}` : ''}` : '';
    lines.push(
      `             ${slash.kind}${where}: ${taken} ${slash.state} — ${slash.reason}`,
      `               evidence ${slash.evidenceHash} (${slash.evidenceReports} signed report(s): GET /api/slashes)${slash.txHash ? `  tx ${slash.txHash}` : ''}`,
    );
  }
  const checks = trust.checks.slice(0, 5);
  if (checks.length > 0) {
    lines.push(
      `  Checks:    ${checks.map((c) => `${c.container}#${c.round} ${c.ok ? 'ok' : `fail${c.finding ? ` (${c.finding})` : ''}`}`).join(', ')}`,
    );
  }
  return lines;
}
