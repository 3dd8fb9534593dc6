/**
 * The provider dashboard (`/providers/?address=0x…`): what `ath-edge provider status` prints, for one
 * address — its hosts with slots and live sessions, quality score, earnings, stake and slashes — refreshed
 * every few seconds while the page is open.
 */

import { formatAth, byId as pageById } from '../pageDom.js';
import { type ProviderStatusView, providerStatusCheck } from './providerStatusBody.js';

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
  set('slashes', String(status.slashes.count));
  set('slashes-detail', status.slashes.count ? `${formatAth(status.slashes.slashedWei)} taken` : 'none');

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
          ]),
        )
      : [row(['no host registered with this signaling server', '', '', '', '', '', ''])]),
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
    ...status.slashes.list.map((slash) =>
      row([new Date(slash.createdAt).toLocaleString(), formatAth(slash.amountWei), slash.state, slash.reason]),
    ),
  );
}

function main(): void {
  const form = byId('address-form', HTMLFormElement);
  const input = byId('address', HTMLInputElement);
  const message = byId('status-message', HTMLElement);
  const panel = byId('provider', HTMLElement);
  let timer: ReturnType<typeof setTimeout> | undefined;

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
