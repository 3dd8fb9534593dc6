// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @notice Providers and checkers stake ATH to take part; stake is collateral the network can slash.
///
/// Epochs are weeks starting Thursday 00:00 UTC (Unix time 0 was a Thursday at midnight UTC, so the epoch of a
/// timestamp is simply `timestamp / 1 weeks`). Stakers' weekly rewards are computed off chain from the
/// protocol fee and credited here per epoch, but only to operators whose stake was held through that whole
/// epoch: staked before it began and not changed during it (a change — more stake, an unbonding, a slash —
/// starts a new holding period). The last holding that spanned a whole epoch is remembered when the stake
/// changes, so a change after an epoch ended does not take away that epoch's reward. Checkers are paid per
/// period (a day by default) for reports that agreed with confirmed majorities; staked or not.
///
/// Slashing takes unclaimed rewards first, then active stake, then stake still unbonding (unbonding does not
/// escape responsibility), and sends it to the treasury. Nothing is slashed on the slasher's word alone: the
/// evidence is the checkers' signed `CheckReport`s (EIP-712, domain `AthChecker` version 1), verified here —
///   * a container: at least `slashQuorum` distinct staked checkers (never the operator itself) reporting the
///     same round of the same container as failing, and the operator's own signature binding that container to
///     its wallet (the EIP-191 registration message it signed for the indexer). The amount is a configured
///     share of the operator's stake unit (its tier's minimum stake): Aethir's ⅓ for downtime while rendering,
///     all of it for fraud (deceiving the indexer, far below the promised spec). Each round slashes once.
///   * a checker: at least `lieThreshold` of its passing reports in one epoch, each contradicted by a quorum of
///     other staked checkers that failed the same round (an outvoted failing report is no lie: a host can cause
///     one at will by serving one probe badly). It loses reward eligibility for `checkerBarPeriod` and, with stake,
///     is slashed a configured share of its unit. Each report is used once.
contract StakingRegistry is AccessControl, EIP712 {
    using SafeERC20 for IERC20;

    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    bytes32 public constant REWARDS_ROLE = keccak256("REWARDS_ROLE");
    bytes32 public constant CHECK_REPORT_TYPEHASH = keccak256(
        "CheckReport(string container,address checker,uint64 round,uint32 rttMicros,uint32 fpsMilli,uint32 lossPpm,bool ok,uint64 timestamp)"
    );
    /// The tier checkers stake in.
    bytes32 public constant CHECKER_TIER = keccak256("checker");
    uint256 public constant EPOCH = 1 weeks;
    uint256 private constant BPS = 10_000;

    /// What a slash is for; its rate is `slashBps[kind]` of the stake unit.
    uint8 public constant KIND_DOWNTIME = 0;
    uint8 public constant KIND_FRAUD = 1;
    uint8 public constant KIND_CHECKER_LIE = 2;

    /// Why a reward item was not credited (`RewardSkipped`).
    uint8 public constant SKIP_NOT_ELIGIBLE = 1;
    uint8 public constant SKIP_ALREADY_PAID = 2;
    uint8 public constant SKIP_BARRED = 3;
    uint8 public constant SKIP_ZERO = 4;

    struct Operator {
        uint128 stake;
        uint128 rewards;
        uint64 lastChangeAt;
        bytes32 tier;
    }

    /// A holding that ended with a stake change: `amount` held from `since` until `until`.
    struct PastHolding {
        uint128 amount;
        uint64 since;
        uint64 until;
    }

    struct Unbonding {
        uint128 amount;
        uint64 unlockAt;
    }

    struct CheckReport {
        string container;
        address checker;
        uint64 round;
        uint32 rttMicros;
        uint32 fpsMilli;
        uint32 lossPpm;
        bool ok;
        uint64 timestamp;
    }

    struct SignedReport {
        CheckReport report;
        bytes signature;
    }

    /// The operator's EIP-191 signature over `ath-edge host registration\nhost: <container>\nnonce: <nonce>`.
    struct HostBinding {
        string nonce;
        bytes signature;
    }

    /// One report of a checker and the quorum of other checkers that contradicted it in the same round.
    struct Contradiction {
        SignedReport told;
        SignedReport[] majority;
    }

    IERC20 public immutable token;
    address public treasury;
    uint64 public unbondingDelay;
    mapping(bytes32 => uint256) public minStake;
    mapping(address => Operator) public operators;
    mapping(address => PastHolding) public pastHolding;
    mapping(address => Unbonding) public unbonding;

    /// Slash rates in basis points of the stake unit, per kind.
    mapping(uint8 => uint16) public slashBps;
    /// Distinct staked checkers a slash's evidence needs.
    uint8 public slashQuorum;
    /// Contradicted reports in one epoch that bar (and slash) a checker.
    uint8 public lieThreshold;
    uint64 public checkerBarPeriod;
    mapping(address => uint64) public rewardsBarredUntil;
    /// Failing rounds (container slashes) and contradicted reports (checker slashes) already used.
    mapping(bytes32 => bool) public evidenceUsed;

    mapping(uint256 => mapping(address => bool)) public rewarded;
    /// End of the last period a checker was paid for.
    mapping(address => uint64) public checkerPaidUntil;

    event Staked(address indexed operator, bytes32 indexed tier, uint256 amount, uint256 total);
    event UnbondRequested(address indexed operator, uint256 amount, uint64 unlockAt);
    event Unbonded(address indexed operator, uint256 amount);
    event RewardsCredited(uint256 indexed epoch, address indexed operator, uint256 amount);
    event CheckerPaid(uint64 indexed periodStart, uint64 periodEnd, address indexed operator, uint256 amount);
    event RewardSkipped(uint256 indexed key, address indexed operator, uint256 amount, uint8 reason);
    event RewardsClaimed(address indexed operator, uint256 amount);
    event Slashed(
        address indexed operator,
        bytes32 indexed evidenceHash,
        uint8 kind,
        uint256 fromRewards,
        uint256 fromStake,
        uint256 fromUnbonding
    );
    event CheckerBarred(address indexed operator, uint64 until);
    event MinStakeSet(bytes32 indexed tier, uint256 amount);
    event SlashParametersSet(
        uint16 downtimeBps, uint16 fraudBps, uint16 lieBps, uint8 quorum, uint8 lieThreshold, uint64 barPeriod
    );

    error BadAmount();
    error BelowMinimum(uint256 stake, uint256 minimum);
    error TierMismatch();
    error NotUnlocked();
    error EvidenceUsed();
    error EpochNotOver(uint256 epoch);
    error PeriodNotOver(uint64 periodEnd);
    error LengthMismatch();
    error BadEvidence(uint256 index, string why);
    error BadKind();

    constructor(IERC20 token_, address admin, address treasury_, uint64 unbondingDelay_) EIP712("AthChecker", "1") {
        token = token_;
        treasury = treasury_;
        unbondingDelay = unbondingDelay_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setSlashParameters(3333, 10_000, 3333, 2, 2, 30 days);
    }

    function setMinStake(bytes32 tier, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        minStake[tier] = amount;
        emit MinStakeSet(tier, amount);
    }

    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        treasury = treasury_;
    }

    function setSlashParameters(
        uint16 downtimeBps,
        uint16 fraudBps,
        uint16 lieBps,
        uint8 quorum,
        uint8 lieThreshold_,
        uint64 barPeriod
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setSlashParameters(downtimeBps, fraudBps, lieBps, quorum, lieThreshold_, barPeriod);
    }

    function _setSlashParameters(
        uint16 downtimeBps,
        uint16 fraudBps,
        uint16 lieBps,
        uint8 quorum,
        uint8 lieThreshold_,
        uint64 barPeriod
    ) private {
        if (downtimeBps > BPS || fraudBps > BPS || lieBps > BPS || quorum == 0 || lieThreshold_ == 0) {
            revert BadAmount();
        }
        slashBps[KIND_DOWNTIME] = downtimeBps;
        slashBps[KIND_FRAUD] = fraudBps;
        slashBps[KIND_CHECKER_LIE] = lieBps;
        slashQuorum = quorum;
        lieThreshold = lieThreshold_;
        checkerBarPeriod = barPeriod;
        emit SlashParametersSet(downtimeBps, fraudBps, lieBps, quorum, lieThreshold_, barPeriod);
    }

    function epochOf(uint256 timestamp) public pure returns (uint256) {
        return timestamp / EPOCH;
    }

    function epochStart(uint256 epoch) public pure returns (uint256) {
        return epoch * EPOCH;
    }

    function currentEpoch() external view returns (uint256) {
        return epochOf(block.timestamp);
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function hashCheckReport(CheckReport calldata r) external view returns (bytes32) {
        return _hashReport(r);
    }

    function _hashReport(CheckReport calldata r) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    CHECK_REPORT_TYPEHASH,
                    keccak256(bytes(r.container)),
                    r.checker,
                    r.round,
                    r.rttMicros,
                    r.fpsMilli,
                    r.lossPpm,
                    r.ok,
                    r.timestamp
                )
            )
        );
    }

    /// The stake unit slashes are measured in (Aethir's K × coefficient): the operator's tier minimum.
    function stakeUnit(address operator) public view returns (uint256) {
        return minStake[operators[operator].tier];
    }

    // ---- staking -----------------------------------------------------------------------------------------

    /// Stakes `amount` more in a tier (a GPU tier for providers, or `keccak256("checker")`); the total must
    /// reach the tier's minimum. An operator stays in one tier while it has stake.
    function stake(uint256 amount, bytes32 tier) external {
        if (amount == 0 || amount > type(uint128).max) revert BadAmount();
        Operator storage op = operators[msg.sender];
        if (op.stake != 0 && op.tier != tier) revert TierMismatch();
        uint256 total = op.stake + amount;
        if (total < minStake[tier]) revert BelowMinimum(total, minStake[tier]);
        token.safeTransferFrom(msg.sender, address(this), amount);
        _holdingEnds(msg.sender, op);
        op.stake = uint128(total);
        op.tier = tier;
        emit Staked(msg.sender, tier, amount, total);
    }

    /// Starts unbonding `amount`; what stays staked must be zero or at least the tier's minimum.
    function requestUnbond(uint256 amount) external {
        Operator storage op = operators[msg.sender];
        if (amount == 0 || amount > op.stake) revert BadAmount();
        uint256 rest = op.stake - amount;
        if (rest != 0 && rest < minStake[op.tier]) revert BelowMinimum(rest, minStake[op.tier]);
        _holdingEnds(msg.sender, op);
        op.stake = uint128(rest);
        Unbonding storage u = unbonding[msg.sender];
        u.amount += uint128(amount);
        u.unlockAt = uint64(block.timestamp) + unbondingDelay;
        emit UnbondRequested(msg.sender, amount, u.unlockAt);
    }

    function withdrawUnbonded() external {
        Unbonding memory u = unbonding[msg.sender];
        if (u.amount == 0 || block.timestamp < u.unlockAt) revert NotUnlocked();
        delete unbonding[msg.sender];
        token.safeTransfer(msg.sender, u.amount);
        emit Unbonded(msg.sender, u.amount);
    }

    /// The current holding ends now. It is remembered if it spanned a whole epoch (else the one remembered
    /// before stays: it still holds the latest whole epoch this operator can be rewarded for).
    function _holdingEnds(address who, Operator storage op) private {
        if (op.stake != 0 && epochOf(op.lastChangeAt) + 2 <= epochOf(block.timestamp)) {
            pastHolding[who] = PastHolding(op.stake, op.lastChangeAt, uint64(block.timestamp));
        }
        op.lastChangeAt = uint64(block.timestamp);
    }

    // ---- rewards -----------------------------------------------------------------------------------------

    /// The stake `operator` held unchanged through the whole of an ended `epoch` (0 if it did not).
    function stakeHeldThrough(address operator, uint256 epoch) public view returns (uint256) {
        uint256 start = epochStart(epoch);
        uint256 end = epochStart(epoch + 1);
        if (block.timestamp < end) return 0;
        Operator memory op = operators[operator];
        if (op.stake != 0 && op.lastChangeAt < start) return op.stake;
        PastHolding memory past = pastHolding[operator];
        if (past.amount != 0 && past.since < start && past.until >= end) return past.amount;
        return 0;
    }

    function isEligible(address operator, uint256 epoch) public view returns (bool) {
        return stakeHeldThrough(operator, epoch) != 0;
    }

    /// Credits an ended epoch's staker rewards (computed off chain), once per operator and epoch; the caller
    /// provides the tokens. Items that cannot be credited are skipped (`RewardSkipped`), never the batch.
    function creditRewards(uint256 epoch, address[] calldata ops, uint256[] calldata amounts)
        external
        onlyRole(REWARDS_ROLE)
    {
        if (ops.length != amounts.length) revert LengthMismatch();
        if (block.timestamp < epochStart(epoch + 1)) revert EpochNotOver(epoch);
        uint256 total;
        for (uint256 i = 0; i < ops.length; i++) {
            address op = ops[i];
            uint8 skip = amounts[i] == 0
                ? SKIP_ZERO
                : rewarded[epoch][op] ? SKIP_ALREADY_PAID : !isEligible(op, epoch) ? SKIP_NOT_ELIGIBLE : _barred(op) ? SKIP_BARRED : 0;
            if (skip != 0) {
                emit RewardSkipped(epoch, op, amounts[i], skip);
                continue;
            }
            rewarded[epoch][op] = true;
            operators[op].rewards += uint128(amounts[i]);
            total += amounts[i];
            emit RewardsCredited(epoch, op, amounts[i]);
        }
        if (total != 0) token.safeTransferFrom(msg.sender, address(this), total);
    }

    /// Pays checkers for an ended period [periodStart, periodEnd) (computed off chain from their reports that
    /// agreed with confirmed majorities), once per checker and period; the caller provides the tokens.
    function payCheckers(uint64 periodStart, uint64 periodEnd, address[] calldata checkers, uint256[] calldata amounts)
        external
        onlyRole(REWARDS_ROLE)
    {
        if (checkers.length != amounts.length) revert LengthMismatch();
        if (periodStart >= periodEnd) revert BadAmount();
        if (block.timestamp < periodEnd) revert PeriodNotOver(periodEnd);
        uint256 total;
        for (uint256 i = 0; i < checkers.length; i++) {
            address c = checkers[i];
            uint8 skip = amounts[i] == 0
                ? SKIP_ZERO
                : checkerPaidUntil[c] > periodStart ? SKIP_ALREADY_PAID : _barred(c) ? SKIP_BARRED : 0;
            if (skip != 0) {
                emit RewardSkipped(periodStart, c, amounts[i], skip);
                continue;
            }
            checkerPaidUntil[c] = periodEnd;
            operators[c].rewards += uint128(amounts[i]);
            total += amounts[i];
            emit CheckerPaid(periodStart, periodEnd, c, amounts[i]);
        }
        if (total != 0) token.safeTransferFrom(msg.sender, address(this), total);
    }

    function _barred(address op) private view returns (bool) {
        return rewardsBarredUntil[op] > block.timestamp;
    }

    function claimRewards() external {
        Operator storage op = operators[msg.sender];
        uint256 amount = op.rewards;
        if (amount == 0) revert BadAmount();
        op.rewards = 0;
        token.safeTransfer(msg.sender, amount);
        emit RewardsClaimed(msg.sender, amount);
    }

    // ---- slashing ----------------------------------------------------------------------------------------

    /// Slashes a container's operator for one failing round (see the contract's notes for the evidence).
    /// `kind` is KIND_DOWNTIME or KIND_FRAUD; the amount is its rate of the operator's stake unit.
    function slashContainer(
        address operator,
        uint8 kind,
        HostBinding calldata binding,
        SignedReport[] calldata reports
    ) external onlyRole(SLASHER_ROLE) {
        if (kind != KIND_DOWNTIME && kind != KIND_FRAUD) revert BadKind();
        if (reports.length == 0) revert BadEvidence(0, "no reports");
        CheckReport calldata first = reports[0].report;
        bytes32 containerHash = keccak256(bytes(first.container));
        bytes32 message = MessageHashUtils.toEthSignedMessageHash(
            bytes(string.concat("ath-edge host registration\nhost: ", first.container, "\nnonce: ", binding.nonce))
        );
        if (ECDSA.recover(message, binding.signature) != operator) revert BadEvidence(0, "host binding");
        _checkQuorum(reports, containerHash, first.round, false, operator);
        bytes32 evidence = keccak256(abi.encode(containerHash, first.round));
        if (evidenceUsed[evidence]) revert EvidenceUsed();
        evidenceUsed[evidence] = true;
        _slash(operator, (stakeUnit(operator) * slashBps[kind]) / BPS, evidence, kind);
    }

    /// Bars a checker from rewards for `checkerBarPeriod` and slashes its stake (if any) for reports that
    /// contradicted confirmed majorities, at least `lieThreshold` of them within one epoch.
    function slashChecker(address checker, Contradiction[] calldata lies) external onlyRole(SLASHER_ROLE) {
        if (lies.length < lieThreshold) revert BadEvidence(lies.length, "too few contradictions");
        uint256 epoch = epochOf(lies[0].told.report.timestamp);
        bytes32[] memory used = new bytes32[](lies.length);
        for (uint256 i = 0; i < lies.length; i++) {
            CheckReport calldata told = lies[i].told.report;
            if (told.checker != checker || ECDSA.recover(_hashReport(told), lies[i].told.signature) != checker) {
                revert BadEvidence(i, "not the checker's report");
            }
            if (epochOf(told.timestamp) != epoch) revert BadEvidence(i, "not in one epoch");
            // A failing report outvoted by a passing majority is no lie: a host makes one at will by serving that
            // one probe badly while it passes. A pass against a failing majority cost the host its round.
            if (!told.ok) revert BadEvidence(i, "a failing report is no lie");
            bytes32 containerHash = keccak256(bytes(told.container));
            _checkQuorum(lies[i].majority, containerHash, told.round, false, checker);
            bytes32 evidence = keccak256(abi.encode(containerHash, told.round, checker));
            if (evidenceUsed[evidence]) revert EvidenceUsed();
            evidenceUsed[evidence] = true;
            used[i] = evidence;
        }
        uint64 until = uint64(block.timestamp) + checkerBarPeriod;
        if (until > rewardsBarredUntil[checker]) rewardsBarredUntil[checker] = until;
        emit CheckerBarred(checker, rewardsBarredUntil[checker]);
        _slash(checker, (stakeUnit(checker) * slashBps[KIND_CHECKER_LIE]) / BPS, keccak256(abi.encode(used)), KIND_CHECKER_LIE);
    }

    /// At least `slashQuorum` reports, signed by distinct staked checkers (ascending addresses, never
    /// `excluded`), all about one container's round and all saying `ok`.
    function _checkQuorum(
        SignedReport[] calldata reports,
        bytes32 containerHash,
        uint64 round,
        bool ok,
        address excluded
    ) private view {
        if (reports.length < slashQuorum) revert BadEvidence(reports.length, "below quorum");
        address previous;
        uint256 checkerMin = minStake[CHECKER_TIER];
        for (uint256 i = 0; i < reports.length; i++) {
            CheckReport calldata r = reports[i].report;
            if (keccak256(bytes(r.container)) != containerHash || r.round != round) revert BadEvidence(i, "other round");
            if (r.ok != ok) revert BadEvidence(i, "verdict");
            if (r.checker <= previous) revert BadEvidence(i, "checkers not distinct and ascending");
            if (r.checker == excluded) revert BadEvidence(i, "own report");
            Operator memory c = operators[r.checker];
            if (c.tier != CHECKER_TIER || c.stake == 0 || c.stake < checkerMin) revert BadEvidence(i, "checker not staked");
            if (ECDSA.recover(_hashReport(r), reports[i].signature) != r.checker) revert BadEvidence(i, "signature");
            previous = r.checker;
        }
    }

    /// Takes up to `amount` — unclaimed rewards first, then stake, then unbonding stake — to the treasury.
    function _slash(address operator, uint256 amount, bytes32 evidenceHash, uint8 kind) private {
        Operator storage op = operators[operator];
        uint256 left = amount;
        uint256 fromRewards = left < op.rewards ? left : op.rewards;
        op.rewards -= uint128(fromRewards);
        left -= fromRewards;
        uint256 fromStake = left < op.stake ? left : op.stake;
        if (fromStake != 0) _holdingEnds(operator, op);
        op.stake -= uint128(fromStake);
        left -= fromStake;
        Unbonding storage u = unbonding[operator];
        uint256 fromUnbonding = left < u.amount ? left : u.amount;
        u.amount -= uint128(fromUnbonding);
        uint256 taken = fromRewards + fromStake + fromUnbonding;
        if (taken != 0) token.safeTransfer(treasury, taken);
        emit Slashed(operator, evidenceHash, kind, fromRewards, fromStake, fromUnbonding);
    }
}
