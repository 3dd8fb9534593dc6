/**
 * The player's wallet: who pays for a session, and the signature of its SessionAuth. Two kinds:
 *   - a burner key kept in localStorage, on the embedded chain (funded from the faucet, deposits itself);
 *   - an injected wallet (EIP-1193, e.g. a browser extension) through viem's custom transport.
 */
import {
  type Account,
  type Address,
  createPublicClient,
  createWalletClient,
  custom,
  type EIP1193Provider,
  type Hex,
  http,
  parseAbi,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import {
  AthError,
  formatAthPerHour,
  type PaymentTermsRecord,
  type SessionAuth,
  sessionAuthTypes,
  sessionEscrowDomain,
  weiFromString,
} from '../../../signaling/protocol/index.js';
import type { FetchLike } from '../httpApi.js';
import type { StorageLike } from '../sessionStore.js';
import { type ChainInfo, fetchAccount, requestFaucet } from './chainApi.js';

export type SignedSessionAuth = { auth: SessionAuth; signature: Hex };

/** What the player agreed to pay at most (PlaySettings.maxPriceWeiPerSec). */
export type PriceCeiling = { maxPriceWeiPerSec: bigint };

export type PlayerWallet = {
  readonly address: Address;
  readonly kind: 'burner' | 'injected';
  /** Signs the session's terms; refuses (ATH_ERR_PRICE_ABOVE_CEILING) a price above the player's ceiling. */
  signSessionAuth(sessionId: Hex, terms: PaymentTermsRecord, ceiling: PriceCeiling): Promise<SignedSessionAuth>;
};

const BURNER_KEY = 'ath-edge.burner-key';
const ESCROW_ABI = parseAbi([
  'function deposit(uint256 amount)',
  'function approve(address spender, uint256 amount) returns (bool)',
]);

/** The terms as a SessionAuth, or a refusal when the price is above what the player agreed to pay. */
function authFromTerms(sessionId: Hex, player: Address, terms: PaymentTermsRecord, ceiling: PriceCeiling): SessionAuth {
  const price = weiFromString(terms.pricePerSecondWei);
  if (price > ceiling.maxPriceWeiPerSec) {
    throw new AthError({
      code: 'ATH_ERR_PRICE_ABOVE_CEILING',
      shortMessage: `the session asks ${formatAthPerHour(price)}, above this player's limit of ${formatAthPerHour(ceiling.maxPriceWeiPerSec)}: not signed`,
    });
  }
  return {
    sessionId,
    player,
    provider: terms.providerAddress as Address,
    maxAmount: weiFromString(terms.maxAmountWei),
    pricePerSecond: weiFromString(terms.pricePerSecondWei),
    expiry: BigInt(terms.expirySec),
  };
}

/** A key in localStorage: fine for test ATH on the embedded chain, never for real funds. */
export function burnerWallet(
  storage: StorageLike,
): PlayerWallet & { account: Account & { signTypedData: NonNullable<Account['signTypedData']> } } {
  let key = storage.getItem(BURNER_KEY) as Hex | null;
  if (!key || !/^0x[0-9a-f]{64}$/i.test(key)) {
    key = generatePrivateKey();
    storage.setItem(BURNER_KEY, key);
  }
  const account = privateKeyToAccount(key);
  return {
    address: account.address,
    kind: 'burner',
    account,
    async signSessionAuth(sessionId, terms, ceiling) {
      const auth = authFromTerms(sessionId, account.address, terms, ceiling);
      const domain = sessionEscrowDomain({ chainId: terms.chainId, verifyingContract: terms.escrowAddress as Address });
      const signature = await account.signTypedData({
        domain,
        types: sessionAuthTypes,
        primaryType: 'SessionAuth',
        message: auth,
      });
      return { auth, signature };
    },
  };
}

/** An injected wallet (window.ethereum): asks the user for the account, signs with eth_signTypedData_v4. */
export async function injectedWallet(provider: EIP1193Provider): Promise<PlayerWallet> {
  const client = createWalletClient({ transport: custom(provider) });
  const [address] = await client.requestAddresses();
  if (!address) throw new Error('the wallet gave no account');
  return {
    address,
    kind: 'injected',
    async signSessionAuth(sessionId, terms, ceiling) {
      const auth = authFromTerms(sessionId, address, terms, ceiling);
      const domain = sessionEscrowDomain({ chainId: terms.chainId, verifyingContract: terms.escrowAddress as Address });
      const signature = await client.signTypedData({
        account: address,
        domain,
        types: sessionAuthTypes,
        primaryType: 'SessionAuth',
        message: auth,
      });
      return { auth, signature };
    },
  };
}

export type EnsureEscrowParameters = {
  wallet: ReturnType<typeof burnerWallet>;
  chain: ChainInfo;
  server: string;
  fetch: FetchLike;
  /** Top up when the free escrow is below this. */
  minimumWei: bigint;
  depositWei: bigint;
};

/**
 * On the embedded chain, makes sure a burner wallet can pay: test ATH from the faucet if it has none, then
 * approve and deposit into the escrow. Returns the free escrow after.
 */
export async function ensureBurnerEscrow({
  wallet,
  chain,
  server,
  fetch,
  minimumWei,
  depositWei,
}: EnsureEscrowParameters): Promise<bigint> {
  const account = await fetchAccount(fetch, server, wallet.address);
  const free = BigInt(account.escrow.freeWei);
  if (free >= minimumWei || !chain.rpcUrl) return free;
  if (BigInt(account.tokenWei) < depositWei) {
    if (!chain.faucet) return free;
    await requestFaucet(fetch, server, wallet.address);
  }
  await depositFromBurner({ wallet, chain, amountWei: depositWei });
  return free + depositWei;
}

/** Approves and deposits `amountWei` of the burner's ATH into the escrow (the embedded chain's RPC). */
export async function depositFromBurner({
  wallet,
  chain,
  amountWei,
}: {
  wallet: ReturnType<typeof burnerWallet>;
  chain: ChainInfo;
  amountWei: bigint;
}): Promise<void> {
  if (!chain.rpcUrl) throw new Error('this network gives the browser no RPC: deposit with your own wallet');
  const depositWei = amountWei;
  const transport = http(chain.rpcUrl);
  const viemChain = {
    id: chain.chainId,
    name: chain.network,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [chain.rpcUrl] } },
  } as const;
  const walletClient = createWalletClient({ account: wallet.account, chain: viemChain, transport });
  const publicClient = createPublicClient({ chain: viemChain, transport, pollingInterval: 200 });
  const approve = await walletClient.writeContract({
    address: chain.tokenAddress as Address,
    abi: ESCROW_ABI,
    functionName: 'approve',
    args: [chain.escrowAddress as Address, depositWei],
  });
  await publicClient.waitForTransactionReceipt({ hash: approve });
  const deposit = await walletClient.writeContract({
    address: chain.escrowAddress as Address,
    abi: ESCROW_ABI,
    functionName: 'deposit',
    args: [depositWei],
  });
  await publicClient.waitForTransactionReceipt({ hash: deposit });
}
