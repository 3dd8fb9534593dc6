/**
 * Sends the ledger's decided slashes to the StakingRegistry with the slasher key — never the meter's — through
 * the outbox protocol: dry-run first (evidence the contract would refuse fails for good, with the contract's
 * reason; nothing is spent on it), sign locally, record the hash (write-ahead, under the `slasher:<address>`
 * ledger lease so one process sends per key), broadcast, confirm from the receipt's `Slashed` event (what came
 * from rewards, stake and unbonding) and `CheckerBarred`. A crash anywhere leaves a `sent` row that the next pass
 * reconciles against the chain: mined → confirmed, in the mempool → left alone, gone → sent again. The contract
 * refuses a second slash on the same evidence, so nothing is slashed twice whatever is re-sent.
 */
import type { Logger } from 'pino';
import {
  type Account,
  type Address,
  BaseError,
  type Chain,
  ContractFunctionRevertedError,
  encodeFunctionData,
  type Hex,
  type PublicClient,
  parseEventLogs,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from 'viem';
import { stakingRegistryAbi, tierId } from '../chain/index.js';
import { PassScheduler } from '../jobs/index.js';
import {
  acquireLease,
  assertLeaseHeld,
  type Ledger,
  listSlashes,
  markSlashConfirmed,
  markSlashFailed,
  markSlashSent,
  releaseLease,
  type Slash,
} from '../ledger/index.js';
import {
  checkerSlashArgs,
  containerSlashArgs,
  parseSlashEvidence,
  type SignedReportJson,
  type SlashEvidence,
} from './slashEvidence.js';
import { errorText, signTx, txFate } from './writeAheadTx.js';

export type SlashSenderParameters = {
  ledger: Ledger;
  publicClient: PublicClient<Transport, Chain>;
  /** The slasher key's wallet. */
  walletClient: WalletClient<Transport, Chain, Account>;
  stakingAddress: Address;
  /** Unique per process (the lease holder). */
  workerId: string;
  intervalMs: number;
  leaseTtlMs?: number;
  log: Logger;
  /** Fault injection for the crash test: after the hash is recorded and the transaction broadcast. */
  afterBroadcast?: (txHash: Hex) => Promise<void> | void;
};

const CHECKER_TIER = tierId('checker').toLowerCase();

/** Contract errors that no retry can fix: the evidence itself is refused. */
const FINAL_REVERTS = new Set([
  'BadEvidence',
  'BadKind',
  'EvidenceUsed',
  'AccessControlUnauthorizedAccount',
  // OpenZeppelin's ECDSA.recover on the host binding: a signature the chain can never recover.
  'ECDSAInvalidSignature',
  'ECDSAInvalidSignatureLength',
  'ECDSAInvalidSignatureS',
]);
/** Pending slashes tried per pass. */
const SLASHES_PER_PASS = 100;

export class SlashSender {
  readonly #p: SlashSenderParameters;
  readonly #log: Logger;
  readonly #leaseName: string;
  readonly #passes: PassScheduler<void>;
  #closed = false;

  constructor(params: SlashSenderParameters) {
    this.#p = params;
    this.#log = params.log.child({ mod: 'economy/slasher', slasher: params.walletClient.account.address });
    this.#leaseName = `slasher:${params.walletClient.account.address.toLowerCase()}`;
    this.#passes = new PassScheduler({ pass: () => this.#pass(), log: this.#log, failure: 'slash pass failed' });
  }

  start(): void {
    void this.runSoon();
    this.#passes.every(this.#p.intervalMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#passes.stop();
    await releaseLease(this.#p.ledger, { name: this.#leaseName, holder: this.#p.workerId }).catch(() => undefined);
  }

  /** One pass after any pass already running: reconcile what is in flight, then send what is pending. */
  runSoon(): Promise<void> {
    return this.#passes.runSoon();
  }

  async #pass(): Promise<void> {
    if (this.#closed) return;
    const lease = await acquireLease(this.#p.ledger, {
      name: this.#leaseName,
      holder: this.#p.workerId,
      ttlMs: this.#p.leaseTtlMs ?? 30_000,
    });
    if (!lease.held) return;
    for (const slash of await listSlashes(this.#p.ledger, { state: 'sent' })) await this.#reconcile(slash);
    // Oldest first; one that cannot be sent now (its dry run or signing failed) waits for the next pass without
    // holding up the ones after it.
    for (const slash of await listSlashes(this.#p.ledger, { state: 'pending', limit: SLASHES_PER_PASS })) {
      if (this.#closed) break;
      await this.#send(slash, lease.epoch);
    }
  }

  async #reconcile(slash: Slash): Promise<void> {
    if (!slash.txHash) return;
    const fate = await txFate(this.#p.publicClient, slash.txHash);
    if (fate.state === 'pending') return;
    if (fate.state === 'mined') {
      await this.#settle(slash, fate.receipt);
      return;
    }
    await markSlashFailed(this.#p.ledger, {
      evidenceHash: slash.evidenceHash,
      error: `transaction ${slash.txHash} never landed; sending again`,
      retry: true,
    });
  }

  /** Sends one pending slash; false when it stays pending (a transient failure: try again next pass). */
  async #send(slash: Slash, leaseEpoch: bigint): Promise<boolean> {
    const { publicClient, walletClient, stakingAddress, ledger } = this.#p;
    const evidence = await this.#stillStaked(parseSlashEvidence(slash.evidence));
    const call =
      evidence.type === 'container'
        ? ({ functionName: 'slashContainer', args: containerSlashArgs(evidence) } as const)
        : ({ functionName: 'slashChecker', args: checkerSlashArgs(evidence) } as const);
    const log = { evidenceHash: slash.evidenceHash, kind: slash.kind, operator: slash.operatorAddress };
    try {
      await publicClient.simulateContract({
        account: walletClient.account,
        address: stakingAddress,
        abi: stakingRegistryAbi,
        ...call,
      } as Parameters<typeof publicClient.simulateContract>[0]);
    } catch (error) {
      const reverted = revertOf(error);
      if (reverted && FINAL_REVERTS.has(reverted.name)) {
        if (reverted.name === 'EvidenceUsed' && (await this.#confirmFromChain(slash))) return true;
        await markSlashFailed(ledger, { evidenceHash: slash.evidenceHash, error: reverted.text, retry: false });
        this.#log.error({ ...log, reason: reverted.text }, 'the StakingRegistry refuses this slash: failed for good');
        return true;
      }
      this.#log.warn({ ...log, err: error }, 'could not dry-run the slash; trying again later');
      return false;
    }
    const data = encodeFunctionData({ abi: stakingRegistryAbi, ...call } as Parameters<typeof encodeFunctionData>[0]);
    let signed: Awaited<ReturnType<typeof signTx>>;
    try {
      signed = await signTx(walletClient, { to: stakingAddress, data });
    } catch (error) {
      this.#log.warn({ ...log, err: error }, 'could not prepare the slash transaction; trying again later');
      return false;
    }
    // Renewed just before the write-ahead: a pass may have taken a while since it took the lease.
    await acquireLease(ledger, {
      name: this.#leaseName,
      holder: this.#p.workerId,
      ttlMs: this.#p.leaseTtlMs ?? 30_000,
    });
    await ledger.transaction(async (tx) => {
      await assertLeaseHeld(tx, {
        name: this.#leaseName,
        holder: this.#p.workerId,
        epoch: leaseEpoch,
        marginMs: 2_000,
      });
      await markSlashSent(tx, { evidenceHash: slash.evidenceHash, txHash: signed.txHash, nonce: signed.nonce });
    });
    await publicClient.sendRawTransaction({ serializedTransaction: signed.serialized });
    await this.#p.afterBroadcast?.(signed.txHash);
    const receipt = await publicClient.waitForTransactionReceipt({ hash: signed.txHash, timeout: 60_000 });
    await this.#settle({ ...slash, txHash: signed.txHash }, receipt);
    return true;
  }

  /**
   * The evidence without the reports of checkers no longer staked in the checker tier, which the registry refuses
   * (it checks stake when the slash lands): a checker of a failing majority — the host's colluder, paid and never
   * exposed — that unstakes between the decision and the send must not void the slash. What is left is still
   * evidence while it holds a quorum (else the dry run fails it for good with the registry's reason).
   */
  async #stillStaked(evidence: SlashEvidence): Promise<SlashEvidence> {
    const read = <T>(functionName: 'minStake' | 'operators', args: readonly unknown[]) =>
      this.#p.publicClient.readContract({
        address: this.#p.stakingAddress,
        abi: stakingRegistryAbi,
        functionName,
        args: args as [Hex],
      }) as Promise<T>;
    const minimum = await read<bigint>('minStake', [tierId('checker')]);
    const staked = new Map<string, Promise<boolean>>();
    const isStaked = (checker: string) => {
      const key = checker.toLowerCase();
      let known = staked.get(key);
      if (!known) {
        known = read<readonly [bigint, bigint, bigint, Hex]>('operators', [key]).then(
          ([stakeWei, , , tier]) => tier.toLowerCase() === CHECKER_TIER && stakeWei > 0n && stakeWei >= minimum,
        );
        staked.set(key, known);
      }
      return known;
    };
    const dropped = new Set<string>();
    const keep = async (reports: SignedReportJson[]) => {
      const kept: SignedReportJson[] = [];
      for (const entry of reports) {
        if (await isStaked(entry.report.checker)) kept.push(entry);
        else dropped.add(entry.report.checker.toLowerCase());
      }
      return kept;
    };
    const result: SlashEvidence =
      evidence.type === 'container'
        ? { ...evidence, reports: await keep(evidence.reports) }
        : {
            ...evidence,
            lies: await Promise.all(evidence.lies.map(async (lie) => ({ ...lie, majority: await keep(lie.majority) }))),
          };
    if (dropped.size > 0) {
      this.#log.warn(
        { evidenceType: evidence.type, unstaked: [...dropped] },
        'evidence of checkers no longer staked left out',
      );
    }
    return result;
  }

  async #settle(slash: Slash, receipt: TransactionReceipt): Promise<void> {
    if (receipt.status !== 'success') {
      await markSlashFailed(this.#p.ledger, {
        evidenceHash: slash.evidenceHash,
        error: `transaction ${receipt.transactionHash} reverted`,
        retry: true,
      });
      return;
    }
    const slashed = parseEventLogs({ abi: stakingRegistryAbi, eventName: 'Slashed', logs: receipt.logs }).find(
      (event) => event.args.evidenceHash.toLowerCase() === slash.evidenceHash.toLowerCase(),
    );
    if (!slashed) {
      await markSlashFailed(this.#p.ledger, {
        evidenceHash: slash.evidenceHash,
        error: `transaction ${receipt.transactionHash} has no Slashed event for this evidence`,
        retry: false,
      });
      return;
    }
    const barred = parseEventLogs({ abi: stakingRegistryAbi, eventName: 'CheckerBarred', logs: receipt.logs })[0];
    const { fromRewards, fromStake, fromUnbonding } = slashed.args;
    const { slash: done, confirmed } = await markSlashConfirmed(this.#p.ledger, {
      evidenceHash: slash.evidenceHash,
      txHash: receipt.transactionHash,
      breakdown: { fromRewardsWei: fromRewards, fromStakeWei: fromStake, fromUnbondingWei: fromUnbonding },
      ...(barred ? { barredUntilSec: barred.args.until } : {}),
    });
    if (confirmed) {
      this.#log.warn(
        {
          operator: done.operatorAddress,
          kind: done.kind,
          slashedWei: String(done.slashedWei),
          txHash: receipt.transactionHash,
          barredUntilSec: done.barredUntilSec === null ? undefined : String(done.barredUntilSec),
        },
        'slash confirmed on chain',
      );
    }
  }

  /** The evidence was used: if by this very slash (a transaction the ledger lost track of), confirm it. */
  async #confirmFromChain(slash: Slash): Promise<boolean> {
    const events = await this.#p.publicClient
      .getContractEvents({
        address: this.#p.stakingAddress,
        abi: stakingRegistryAbi,
        eventName: 'Slashed',
        args: { evidenceHash: slash.evidenceHash },
        fromBlock: 0n,
      })
      .catch(() => []);
    const event = events[0];
    if (!event?.transactionHash) return false;
    const receipt = await this.#p.publicClient.getTransactionReceipt({ hash: event.transactionHash });
    await this.#settle(slash, receipt);
    return true;
  }
}

function revertOf(error: unknown): { name: string; text: string } | undefined {
  const revert = error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : undefined;
  if (!(revert instanceof ContractFunctionRevertedError)) return undefined;
  const name = revert.data?.errorName ?? 'unknown';
  const args = revert.data?.args?.map(String).join(', ');
  return { name, text: errorText(`${name}${args ? `(${args})` : ''}`) };
}
