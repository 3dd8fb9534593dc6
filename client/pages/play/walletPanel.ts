/**
 * The wallet panel of the play page: who pays (the burner key on the embedded chain, or an injected
 * wallet), ATH in the wallet and in escrow, a deposit button, the live charge of the running session, and
 * after a session its receipt — what was charged and the transaction hashes that settled it on chain.
 */
import type { AthPlayElement } from '../../elements/index.js';
import { fetchAccount, fetchCharges } from '../../sdk/index.js';
import { formatAth, byId as pageById } from '../pageDom.js';

const byId = <T extends HTMLElement>(id: string, type: { new (): T }): T => pageById(id, type, 'wallet panel');

export function mountWalletPanel(element: AthPlayElement): void {
  const panel = byId('wallet', HTMLElement);
  const address = byId('wallet-address', HTMLElement);
  const token = byId('wallet-token', HTMLElement);
  const escrow = byId('wallet-escrow', HTMLElement);
  const charge = byId('wallet-charge', HTMLElement);
  const deposit = byId('wallet-deposit', HTMLButtonElement);
  const status = byId('wallet-status', HTMLElement);
  const receipt = byId('wallet-receipt', HTMLElement);
  let walletAddress: string | undefined;

  const refresh = async () => {
    if (!walletAddress) return;
    try {
      const account = await fetchAccount((i, init) => fetch(i, init), location.origin, walletAddress);
      token.textContent = formatAth(account.tokenWei);
      escrow.textContent = `${formatAth(account.escrow.freeWei)} / ${formatAth(account.escrow.reservedWei)}`;
    } catch {
      // The panel shows the last known figures; the next refresh tries again.
    }
  };

  element.on('wallet', (event) => {
    walletAddress = event.data.address;
    panel.hidden = false;
    address.textContent = `${event.data.address} (${event.data.kind === 'burner' ? 'burner key, test ATH' : 'your wallet'})`;
    deposit.hidden = event.data.kind !== 'burner';
    void refresh();
  });
  element.on('charge', (event) => {
    charge.textContent = `${formatAth(event.data.cumulativeWei)} for ${event.data.deliveredSec} s (cap ${formatAth(event.data.maxAmountWei)})`;
    void refresh();
  });
  element.on('ended', (event) => void showReceipt(event.data.sessionId));
  deposit.addEventListener('click', async () => {
    deposit.disabled = true;
    status.textContent = 'Depositing…';
    try {
      await element.player?.deposit(100n * 10n ** 18n);
      status.textContent = 'Deposited.';
    } catch (error) {
      status.textContent = `Deposit failed: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      deposit.disabled = false;
      void refresh();
    }
  });
  setInterval(() => void refresh(), 10_000);

  /** Polls the session's charges until everything charged is settled, then shows the transactions. */
  async function showReceipt(sessionId: string): Promise<void> {
    receipt.hidden = false;
    receipt.textContent = 'Settling the session on chain…';
    for (let attempt = 0; attempt < 60; attempt++) {
      try {
        const charges = await fetchCharges((i, init) => fetch(i, init), location.origin, sessionId);
        const hashes = [
          ...new Set(charges.settlements.flatMap((s) => (s.state === 'confirmed' && s.txHash ? [s.txHash] : []))),
        ];
        if (charges.settledWei === charges.chargedWei) {
          receipt.replaceChildren(
            `Receipt: ${formatAth(charges.chargedWei)} for ${charges.deliveredSec} s of play. Settled in `,
            ...hashes.flatMap((hash, i) => {
              const code = document.createElement('code');
              code.textContent = hash;
              return i === 0 ? [code] : [', ', code];
            }),
            hashes.length === 0 ? 'no transaction (nothing was delivered)' : '',
          );
          void refresh();
          return;
        }
      } catch {
        // Not in the ledger (yet): try again.
      }
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
    receipt.textContent = 'The session is not settled yet; its charges stay in the ledger until it is.';
  }
}
