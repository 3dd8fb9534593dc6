/** `ath-edge provider status` for people: the provider's hosts, sessions, quality, money and stake. */
import { formatAth, type ProviderStatus } from '../../signaling/protocol/index.js';

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
