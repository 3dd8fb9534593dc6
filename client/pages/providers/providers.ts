/**
 * The providers page. First the network, before any address is typed: every render host with its region,
 * slots, quality score, price and stake (`GET /api/hosts`). Then the provider dashboard
 * (`/providers/?address=0x…`, or a provider chosen in the table): what `ath-edge provider status` prints, for
 * one address — its hosts with slots and live sessions, quality score, earnings, stake, slashes and, when its
 * checkers drained it, why and how far its probation has come. Both refresh
 * every few seconds while the page is open.
 */
import type { Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { HostListBody, type PublicHost } from '../../../signaling/protocol/index.js';
import { formatAth, byId as pageById } from '../pageDom.js';
import { shortAddress, summarizeNetwork } from './networkSummary.js';
import { type ProviderStatusView, providerStatusCheck } from './providerStatusBody.js';

const hostListCheck = TypeCompiler.Compile(HostListBody);

const REFRESH_MS = 5_000;

const byId = <T extends HTMLElement>(id: string, type: { new (): T }): T => pageById(id, type, 'provider dashboard');

/** A table row of text cells (textContent only: nothing from the API is parsed as HTML). */
function row(cells: string[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const text of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  return tr;
}

async function fetchHosts(): Promise<Static<typeof HostListBody>> {
  const response = await fetch('/api/hosts', { signal: AbortSignal.timeout(8_000) });
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  if (!hostListCheck.Check(body)) throw new Error('unexpected answer from the server');
  return body;
}

const countryNames = (() => {
  try {
    return new Intl.DisplayNames(undefined, { type: 'region' });
  } catch {
    return undefined;
  }
})();

function regionText(host: PublicHost): string {
  const name = countryNames?.of(host.region.country);
  return name && name !== host.region.country ? `${name} (${host.region.country})` : host.region.country;
}

/** The network table and the cards above it; a provider's address chooses it for the dashboard below. */
function renderNetwork(hosts: readonly PublicHost[], choose: (address: string) => void): void {
  const set = (id: string, text: string) => {
    byId(id, HTMLElement).textContent = text;
  };
  const summary = summarizeNetwork(hosts);
  set('net-hosts', `${summary.hostsUp}`);
  set('net-hosts-detail', `${summary.hostsTotal} registered`);
  set('net-slots', `${summary.slotsFree} / ${summary.slotsTotal}`);
  set('net-slots-detail', 'free / total, on hosts that are up');
  set('net-providers', `${summary.providers}`);
  set('net-providers-detail', `${formatAth(summary.stakeWei)} staked`);
  const { priceMinWeiPerHour: min, priceMaxWeiPerHour: max } = summary;
  set(
    'net-price',
    min === undefined || max === undefined
      ? '—'
      : min === max
        ? formatAth(min)
        : `${formatAth(min)} – ${formatAth(max)}`,
  );
  const rows = [...hosts]
    .sort((a, b) => (a.state === b.state ? a.hostId.localeCompare(b.hostId) : a.state === 'up' ? -1 : 1))
    .map((host) => {
      const tr = row([
        host.hostId,
        regionText(host),
        host.state,
        `${host.freeSlots} / ${host.slots}`,
        host.qualityScore.toFixed(2),
        formatAth(BigInt(host.priceWeiPerSec) * 3600n),
        formatAth(host.stakeWei),
        host.gpu,
      ]);
      tr.dataset['host'] = host.hostId;
      tr.children[2]?.classList.add(`state-${host.state}`);
      const cell = document.createElement('td');
      const link = document.createElement('button');
      link.type = 'button';
      link.className = 'address-link';
      link.title = `Show ${host.providerAddress} below`;
      link.textContent = shortAddress(host.providerAddress);
      link.addEventListener('click', () => choose(host.providerAddress));
      cell.append(link);
      tr.append(cell);
      return tr;
    });
  byId('network-hosts', HTMLTableSectionElement).replaceChildren(
    ...(rows.length ? rows : [row(['No render host has registered yet.', '', '', '', '', '', '', '', ''])]),
  );
}

async function fetchStatus(address: string): Promise<ProviderStatusView> {
  const response = await fetch(`/api/providers/${address}`, { signal: AbortSignal.timeout(8_000) });
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const message = (body as { message?: unknown } | undefined)?.message;
    throw new Error(typeof message === 'string' ? message : `HTTP ${response.status}`);
  }
  if (!providerStatusCheck.Check(body)) throw new Error('unexpected answer from the server');
  return body;
}

function render(status: ProviderStatusView): void {
  const set = (id: string, text: string) => {
    byId(id, HTMLElement).textContent = text;
  };
  const { stake } = status;
  set('stake', stake.tier ? formatAth(stake.stakeWei) : 'not staked');
  set(
    'stake-detail',
    stake.tier
      ? `tier ${stake.tier}, minimum ${formatAth(stake.minStakeWei)}${stake.unbonding ? `; unbonding ${formatAth(stake.unbonding.amountWei)}` : ''}`
      : 'run `ath-edge provider join`',
  );
  set('slots', `${status.slots.busy} / ${status.slots.total}`);
  set('slots-detail', `${status.slots.free} free`);
  set('sessions', String(status.sessions.live));
  set('sessions-detail', `live · ${status.sessions.total} paid so far`);
  set('quality', status.qualityScore === null ? '—' : status.qualityScore.toFixed(2));
  set('earned', formatAth(status.earnings.earnedWei));
  set(
    'earned-detail',
    `${formatAth(status.earnings.withdrawableWei)} withdrawable · ${formatAth(status.earnings.grossChargedWei)} charged`,
  );
  const drain = byId('drain', HTMLElement);
  drain.hidden = status.drain === null;
  set('drain-reason', status.drain?.reason ?? '');
  set(
    'drain-detail',
    status.drain
      ? `since ${new Date(status.drain.drainedAt).toLocaleString()} · probation: ${status.drain.probationPasses} of ${status.drain.probationNeeded} passing checks`
      : '',
  );
  set('slashes', String(status.slashes.count));
  set('slashes-detail', status.slashes.count ? `${formatAth(status.slashes.slashedWei)} taken` : 'none');
  const { rewards, schedule } = status.trust;
  set('rewards', formatAth(rewards.claimableWei));
  set(
    'rewards-detail',
    `${formatAth(rewards.paidWei)} paid so far · epoch ${schedule.epoch} ends ${new Date(Number(schedule.nextEpochStartSec) * 1000).toLocaleString()}${rewards.barredUntilSec ? ` · barred until ${new Date(Number(rewards.barredUntilSec) * 1000).toLocaleString()}` : ''}`,
  );

  const hosts = byId('hosts', HTMLTableSectionElement);
  hosts.replaceChildren(
    ...(status.hosts.length
      ? status.hosts.map((host) =>
          row([
            host.hostId,
            host.state,
            `${host.country} · ${host.gpu}`,
            `${host.slots - host.freeSlots} / ${host.slots}`,
            host.qualityScore.toFixed(2),
            formatAth(host.stakeWei),
            host.games.join(', '),
            host.drainReason ?? '',
          ]),
        )
      : [row(['no host registered with this signaling server', '', '', '', '', '', '', ''])]),
  );
  const sessions = byId('recent', HTMLTableSectionElement);
  sessions.replaceChildren(
    ...status.sessions.recent.map((session) =>
      row([
        new Date(session.createdAt).toLocaleString(),
        session.game,
        session.state,
        formatAth(session.cumulativeWei),
        formatAth(session.earnedWei),
      ]),
    ),
  );
  const slashes = byId('slash-list', HTMLTableSectionElement);
  slashes.replaceChildren(
    ...status.trust.slashes.map((slash) =>
      row([
        new Date(slash.createdAt).toLocaleString(),
        slash.kind,
        slash.container ? `${slash.container}${slash.round ? ` · ${slash.round}` : ''}` : '',
        formatAth(slash.slashedWei ?? slash.amountWei),
        slash.state,
        `${slash.evidenceHash.slice(0, 10)}… · ${slash.evidenceReports} signed reports`,
        slash.reason,
      ]),
    ),
  );
}

function main(): void {
  const form = byId('address-form', HTMLFormElement);
  const input = byId('address', HTMLInputElement);
  const message = byId('status-message', HTMLElement);
  const panel = byId('provider', HTMLElement);
  const networkStatus = byId('network-status', HTMLElement);
  let timer: ReturnType<typeof setTimeout> | undefined;

  const choose = (address: string) => {
    input.value = address;
    form.requestSubmit();
    panel.scrollIntoView({ behavior: 'smooth', block: 'start' });
  };
  const showNetwork = async () => {
    try {
      renderNetwork((await fetchHosts()).hosts, choose);
      networkStatus.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      networkStatus.dataset['kind'] = 'ok';
    } catch (error) {
      networkStatus.textContent = `Could not load the network: ${error instanceof Error ? error.message : String(error)}`;
      networkStatus.dataset['kind'] = 'error';
    }
    setTimeout(() => void showNetwork(), REFRESH_MS);
  };
  void showNetwork();

  const show = async (address: string) => {
    clearTimeout(timer);
    try {
      render(await fetchStatus(address));
      panel.hidden = false;
      message.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      message.dataset.kind = 'ok';
    } catch (error) {
      message.textContent = `Could not load ${address}: ${error instanceof Error ? error.message : String(error)}`;
      message.dataset.kind = 'error';
    }
    timer = setTimeout(() => void show(address), REFRESH_MS);
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const address = input.value.trim();
    if (!/^0x[0-9a-fA-F]{40}$/.test(address)) {
      message.textContent = 'A provider address is 0x followed by 40 hex digits.';
      message.dataset.kind = 'error';
      return;
    }
    history.replaceState(null, '', `?address=${address}`);
    void show(address);
  });
  const fromQuery = new URLSearchParams(location.search).get('address');
  if (fromQuery) {
    input.value = fromQuery;
    form.requestSubmit();
  }
}

main();
