// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @notice Providers and checkers stake ATH to take part; stake is collateral the network can slash.
///
/// Epochs are weeks starting Thursday 00:00 UTC (Unix time 0 was a Thursday at midnight UTC, so the epoch of a
/// timestamp is simply `timestamp / 1 weeks`). Weekly rewards are computed off chain from verified delivery
/// and honest checker reports, and credited here per epoch — but only to operators whose stake was held
/// through that whole epoch: staked before it began and not changed since (a change — more stake, an
/// unbonding, a slash — starts a new holding period). Unclaimed rewards are the first thing a slash takes,
/// then active stake, then stake still unbonding: unbonding does not escape responsibility.
///
/// Checkers sign `CheckReport`s in this contract's EIP-712 domain (`AthChecker`, version 1); the reports of
/// a slash are its evidence, referenced by `evidenceHash` (each evidence slashes at most once).
contract StakingRegistry is AccessControl, EIP712 {
    using SafeERC20 for IERC20;

    bytes32 public constant SLASHER_ROLE = keccak256("SLASHER_ROLE");
    bytes32 public constant REWARDS_ROLE = keccak256("REWARDS_ROLE");
    bytes32 public constant CHECK_REPORT_TYPEHASH = keccak256(
        "CheckReport(string container,address checker,uint64 round,uint32 rttMicros,uint32 fpsMilli,uint32 lossPpm,bool ok,uint64 timestamp)"
    );
    uint256 public constant EPOCH = 1 weeks;

    struct Operator {
        uint128 stake;
        uint128 rewards;
        uint64 lastChangeAt;
        bytes32 tier;
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

    IERC20 public immutable token;
    address public treasury;
    uint64 public unbondingDelay;
    mapping(bytes32 => uint256) public minStake;
    mapping(address => Operator) public operators;
    mapping(address => Unbonding) public unbonding;
    mapping(bytes32 => bool) public evidenceUsed;
    mapping(uint256 => mapping(address => bool)) public rewarded;

    event Staked(address indexed operator, bytes32 indexed tier, uint256 amount, uint256 total);
    event UnbondRequested(address indexed operator, uint256 amount, uint64 unlockAt);
    event Unbonded(address indexed operator, uint256 amount);
    event RewardsCredited(uint256 indexed epoch, address indexed operator, uint256 amount);
    event RewardsClaimed(address indexed operator, uint256 amount);
    event Slashed(
        address indexed operator,
        bytes32 indexed evidenceHash,
        uint256 fromRewards,
        uint256 fromStake,
        uint256 fromUnbonding
    );
    event MinStakeSet(bytes32 indexed tier, uint256 amount);

    error BadAmount();
    error BelowMinimum(uint256 stake, uint256 minimum);
    error TierMismatch();
    error NotUnlocked();
    error EvidenceUsed();
    error NotEligible(address operator, uint256 epoch);
    error EpochNotOver(uint256 epoch);
    error LengthMismatch();

    constructor(IERC20 token_, address admin, address treasury_, uint64 unbondingDelay_) EIP712("AthChecker", "1") {
        token = token_;
        treasury = treasury_;
        unbondingDelay = unbondingDelay_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    function setMinStake(bytes32 tier, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        minStake[tier] = amount;
        emit MinStakeSet(tier, amount);
    }

    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        treasury = treasury_;
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
        op.stake = uint128(total);
        op.tier = tier;
        op.lastChangeAt = uint64(block.timestamp);
        emit Staked(msg.sender, tier, amount, total);
    }

    /// Starts unbonding `amount`; what stays staked must be zero or at least the tier's minimum.
    function requestUnbond(uint256 amount) external {
        Operator storage op = operators[msg.sender];
        if (amount == 0 || amount > op.stake) revert BadAmount();
        uint256 rest = op.stake - amount;
        if (rest != 0 && rest < minStake[op.tier]) revert BelowMinimum(rest, minStake[op.tier]);
        op.stake = uint128(rest);
        op.lastChangeAt = uint64(block.timestamp);
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

    // ---- rewards -----------------------------------------------------------------------------------------

    /// Whether `operator` held its stake through the whole of `epoch` (and still holds it).
    function isEligible(address operator, uint256 epoch) public view returns (bool) {
        Operator memory op = operators[operator];
        return op.stake != 0 && op.lastChangeAt < epochStart(epoch) && block.timestamp >= epochStart(epoch + 1);
    }

    /// Credits an ended epoch's rewards (computed off chain) to eligible operators, once each; the caller
    /// provides the tokens.
    function creditRewards(uint256 epoch, address[] calldata ops, uint256[] calldata amounts)
        external
        onlyRole(REWARDS_ROLE)
    {
        if (ops.length != amounts.length) revert LengthMismatch();
        if (block.timestamp < epochStart(epoch + 1)) revert EpochNotOver(epoch);
        uint256 total;
        for (uint256 i = 0; i < ops.length; i++) {
            if (!isEligible(ops[i], epoch) || rewarded[epoch][ops[i]]) revert NotEligible(ops[i], epoch);
            rewarded[epoch][ops[i]] = true;
            operators[ops[i]].rewards += uint128(amounts[i]);
            total += amounts[i];
            emit RewardsCredited(epoch, ops[i], amounts[i]);
        }
        token.safeTransferFrom(msg.sender, address(this), total);
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

    /// Takes up to `amount` from `operator` — unclaimed rewards first, then stake, then unbonding stake — and
    /// sends it to the treasury. `evidenceHash` (the hash of the signed reports) can be used once.
    function slash(address operator, uint256 amount, bytes32 evidenceHash) external onlyRole(SLASHER_ROLE) {
        if (evidenceUsed[evidenceHash]) revert EvidenceUsed();
        if (amount == 0) revert BadAmount();
        evidenceUsed[evidenceHash] = true;
        Operator storage op = operators[operator];
        uint256 left = amount;
        uint256 fromRewards = left < op.rewards ? left : op.rewards;
        op.rewards -= uint128(fromRewards);
        left -= fromRewards;
        uint256 fromStake = left < op.stake ? left : op.stake;
        op.stake -= uint128(fromStake);
        left -= fromStake;
        Unbonding storage u = unbonding[operator];
        uint256 fromUnbonding = left < u.amount ? left : u.amount;
        u.amount -= uint128(fromUnbonding);
        if (fromStake != 0) op.lastChangeAt = uint64(block.timestamp);
        uint256 taken = fromRewards + fromStake + fromUnbonding;
        if (taken != 0) token.safeTransfer(treasury, taken);
        emit Slashed(operator, evidenceHash, fromRewards, fromStake, fromUnbonding);
    }
}
