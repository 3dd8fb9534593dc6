// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @notice Players (and studios) deposit ATH; render-host providers are paid from it for metered sessions.
///
/// A session is paid with two signatures: the payer's `SessionAuth` (caps what the session can ever cost, at
/// a fixed price per second, until an expiry) and the meter's cumulative `Usage` voucher (what it has cost so
/// far). Each redeem pays the difference between the voucher and what was already claimed, so vouchers are
/// idempotent: a stale or replayed one pays nothing. The fee is split per redeemed amount exactly as the
/// off-chain ledger does: fee = amount·feeBps/10⁴, checker pool = fee·checkerShareBps/10⁴, treasury the rest.
///
/// Withdrawals wait `withdrawDelay` after a request and never go below what registered sessions may still
/// claim (`reserved`). A session is registered by its first redeem; the off-chain settler redeems every open
/// session of a payer as soon as it sees `WithdrawRequested`, well within the delay.
contract SessionEscrow is EIP712, AccessControl {
    using SafeERC20 for IERC20;

    bytes32 public constant SESSION_AUTH_TYPEHASH = keccak256(
        "SessionAuth(bytes32 sessionId,address player,address provider,uint256 maxAmount,uint256 pricePerSecond,uint64 expiry)"
    );
    bytes32 public constant USAGE_TYPEHASH =
        keccak256("Usage(bytes32 sessionId,uint256 cumulativeAmount,uint64 deliveredSeconds)");
    uint256 private constant BPS = 10_000;

    struct SessionAuth {
        bytes32 sessionId;
        address player;
        address provider;
        uint256 maxAmount;
        uint256 pricePerSecond;
        uint64 expiry;
    }

    struct Usage {
        bytes32 sessionId;
        uint256 cumulativeAmount;
        uint64 deliveredSeconds;
    }

    struct Redemption {
        SessionAuth auth;
        bytes authSignature;
        Usage usage;
        bytes usageSignature;
    }

    /// One storage slot per session — what keeps a first redeem near 20k gas of storage. Claimed and cap in
    /// 80 bits (up to ≈1.2 million ATH per session), expiry in 32 (seconds, until 2106), and the low 64 bits
    /// of the payer's address, so a later voucher can only ever draw on the payer who registered the session.
    struct SessionState {
        uint80 claimed;
        uint80 maxAmount;
        uint32 expiry;
        uint64 payerTag;
    }

    struct Account {
        uint128 balance;
        /// What registered, unexpired sessions may still claim.
        uint128 reserved;
    }

    struct WithdrawRequest {
        uint128 amount;
        uint64 unlockAt;
    }

    IERC20 public immutable token;
    address public meter;
    address public treasury;
    address public checkerPool;
    uint16 public feeBps;
    uint16 public checkerShareBps;
    uint64 public withdrawDelay;

    mapping(bytes32 => SessionState) public sessions;
    mapping(address => Account) public accounts;
    mapping(address => WithdrawRequest) public withdrawRequests;
    /// Provider, checker-pool and treasury earnings, withdrawn with `withdrawEarnings`.
    mapping(address => uint256) public earnings;

    event Deposited(address indexed payer, uint256 amount);
    event WithdrawRequested(address indexed payer, uint256 amount, uint64 unlockAt);
    event Withdrawn(address indexed payer, uint256 amount);
    event Redeemed(bytes32 indexed sessionId, address indexed provider, uint256 paid, uint256 cumulative);
    event VoucherSkipped(bytes32 indexed sessionId, uint8 reason);
    event SessionReleased(bytes32 indexed sessionId, uint256 unclaimed);
    event EarningsWithdrawn(address indexed account, uint256 amount);
    event ParametersChanged(address meter, address treasury, address checkerPool, uint16 feeBps, uint16 checkerShareBps);

    error BadAmount();
    error WithdrawNotReady();
    error BelowReserved(uint256 free, uint256 requested);
    error BadSignature();
    error Expired();
    error OverCap();
    error OverPrice();
    error Stale();
    error WrongPayer();
    error InsufficientEscrow(uint256 free, uint256 needed);
    error NotExpired();

    constructor(
        IERC20 token_,
        address admin,
        address meter_,
        address treasury_,
        address checkerPool_,
        uint16 feeBps_,
        uint16 checkerShareBps_,
        uint64 withdrawDelay_
    ) EIP712("AthSessionEscrow", "1") {
        token = token_;
        withdrawDelay = withdrawDelay_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setParameters(meter_, treasury_, checkerPool_, feeBps_, checkerShareBps_);
    }

    function setParameters(address meter_, address treasury_, address checkerPool_, uint16 feeBps_, uint16 checkerShareBps_)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setParameters(meter_, treasury_, checkerPool_, feeBps_, checkerShareBps_);
    }

    function _setParameters(address meter_, address treasury_, address checkerPool_, uint16 feeBps_, uint16 checkerShareBps_)
        private
    {
        if (feeBps_ > BPS || checkerShareBps_ > BPS) revert BadAmount();
        meter = meter_;
        treasury = treasury_;
        checkerPool = checkerPool_;
        feeBps = feeBps_;
        checkerShareBps = checkerShareBps_;
        emit ParametersChanged(meter_, treasury_, checkerPool_, feeBps_, checkerShareBps_);
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function hashSessionAuth(SessionAuth calldata a) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(SESSION_AUTH_TYPEHASH, a.sessionId, a.player, a.provider, a.maxAmount, a.pricePerSecond, a.expiry)
            )
        );
    }

    function hashUsage(Usage calldata u) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(USAGE_TYPEHASH, u.sessionId, u.cumulativeAmount, u.deliveredSeconds)));
    }

    // ---- payers ------------------------------------------------------------------------------------------

    function deposit(uint256 amount) external {
        depositFor(msg.sender, amount);
    }

    function depositFor(address payer, uint256 amount) public {
        if (amount == 0 || amount > type(uint128).max) revert BadAmount();
        token.safeTransferFrom(msg.sender, address(this), amount);
        accounts[payer].balance += uint128(amount);
        emit Deposited(payer, amount);
    }

    function requestWithdraw(uint256 amount) external {
        if (amount == 0 || amount > accounts[msg.sender].balance) revert BadAmount();
        uint64 unlockAt = uint64(block.timestamp) + withdrawDelay;
        withdrawRequests[msg.sender] = WithdrawRequest(uint128(amount), unlockAt);
        emit WithdrawRequested(msg.sender, amount, unlockAt);
    }

    function withdraw() external {
        WithdrawRequest memory request = withdrawRequests[msg.sender];
        if (request.amount == 0 || block.timestamp < request.unlockAt) revert WithdrawNotReady();
        Account storage account = accounts[msg.sender];
        uint256 free = account.balance - account.reserved;
        if (request.amount > free) revert BelowReserved(free, request.amount);
        delete withdrawRequests[msg.sender];
        account.balance -= request.amount;
        token.safeTransfer(msg.sender, request.amount);
        emit Withdrawn(msg.sender, request.amount);
    }

    /// Frees the reserve of an expired session (anyone may call it; it only ever helps the payer).
    function releaseExpired(bytes32 sessionId, address payer) external {
        SessionState memory s = sessions[sessionId];
        if (s.expiry == 0 || block.timestamp <= s.expiry) revert NotExpired();
        if (s.payerTag != uint64(uint160(payer))) revert WrongPayer();
        if (s.maxAmount == s.claimed) return;
        uint256 unclaimed = s.maxAmount - s.claimed;
        accounts[payer].reserved -= uint128(unclaimed);
        sessions[sessionId].maxAmount = s.claimed;
        emit SessionReleased(sessionId, unclaimed);
    }

    // ---- redeeming ---------------------------------------------------------------------------------------

    /// Why a voucher is not paid. `redeem` reverts with the matching error; `redeemBatch` skips the item with
    /// `VoucherSkipped(sessionId, code)`, so one bad voucher never loses a whole batch.
    uint8 private constant OK = 0;
    uint8 private constant STALE = 1;
    uint8 private constant BAD_SIGNATURE = 2;
    uint8 private constant EXPIRED = 3;
    uint8 private constant OVER_CAP = 4;
    uint8 private constant OVER_PRICE = 5;
    uint8 private constant INSUFFICIENT_ESCROW = 6;
    uint8 private constant WRONG_PAYER = 7;

    function redeem(Redemption calldata r) external {
        (uint256 paid, uint8 code) = _redeem(r);
        if (code == STALE) revert Stale();
        if (code == BAD_SIGNATURE) revert BadSignature();
        if (code == EXPIRED) revert Expired();
        if (code == OVER_CAP) revert OverCap();
        if (code == OVER_PRICE) revert OverPrice();
        if (code == INSUFFICIENT_ESCROW) revert InsufficientEscrow(accounts[r.auth.player].balance - accounts[r.auth.player].reserved, r.auth.maxAmount);
        if (code == WRONG_PAYER) revert WrongPayer();
        uint256 fee = (paid * feeBps) / BPS;
        uint256 pool = (fee * checkerShareBps) / BPS;
        earnings[r.auth.provider] += paid - fee;
        earnings[checkerPool] += pool;
        earnings[treasury] += fee - pool;
    }

    /// Redeems many vouchers in one transaction. Earnings are credited once per run of equal providers
    /// (the settler sorts a batch by provider) and once for the pool and the treasury. The fee is split per
    /// item, exactly as the ledger journals each item, so both agree to the wei.
    function redeemBatch(Redemption[] calldata items) external {
        address provider;
        uint256 owed;
        uint256 poolTotal;
        uint256 treasuryTotal;
        uint16 fbps = feeBps;
        uint16 sbps = checkerShareBps;
        for (uint256 i = 0; i < items.length; i++) {
            (uint256 paid, uint8 code) = _redeem(items[i]);
            if (code != OK) {
                emit VoucherSkipped(items[i].auth.sessionId, code);
                continue;
            }
            address p = items[i].auth.provider;
            if (p != provider) {
                if (owed != 0) earnings[provider] += owed;
                provider = p;
                owed = 0;
            }
            uint256 fee = (paid * fbps) / BPS;
            uint256 pool = (fee * sbps) / BPS;
            owed += paid - fee;
            poolTotal += pool;
            treasuryTotal += fee - pool;
        }
        if (owed != 0) earnings[provider] += owed;
        if (poolTotal != 0) earnings[checkerPool] += poolTotal;
        if (treasuryTotal != 0) earnings[treasury] += treasuryTotal;
    }

    /// Checks a voucher and pays `cumulative − claimed` from the payer; on a session's first redeem the whole
    /// cap is reserved from the payer's free balance (and drawn down by later redeems). No state changes
    /// unless the result is OK.
    function _redeem(Redemption calldata r) private returns (uint256 paid, uint8 code) {
        SessionAuth calldata a = r.auth;
        Usage calldata u = r.usage;
        uint256 cumulative = u.cumulativeAmount;
        SessionState memory s = sessions[a.sessionId];
        if (s.expiry != 0 && cumulative <= s.claimed) return (0, STALE);
        if (u.sessionId != a.sessionId) return (0, BAD_SIGNATURE);
        if (block.timestamp > a.expiry) return (0, EXPIRED);
        if (cumulative > a.maxAmount || a.maxAmount > type(uint80).max || a.expiry > type(uint32).max) {
            return (0, OVER_CAP);
        }
        if (cumulative > a.pricePerSecond * u.deliveredSeconds) return (0, OVER_PRICE);
        if (!SignatureChecker.isValidSignatureNow(a.player, hashSessionAuth(a), r.authSignature)) return (0, BAD_SIGNATURE);
        // When the meter submits its own vouchers it is the signer: no need to check its signature again.
        if (msg.sender != meter) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(hashUsage(u), r.usageSignature);
            if (err != ECDSA.RecoverError.NoError || signer != meter) return (0, BAD_SIGNATURE);
        }
        Account storage account = accounts[a.player];
        Account memory view_ = account;
        uint64 payerTag = uint64(uint160(a.player));
        if (s.expiry == 0) {
            if (view_.balance - view_.reserved < a.maxAmount) return (0, INSUFFICIENT_ESCROW);
            view_.reserved += uint128(a.maxAmount);
            s = SessionState(0, uint80(a.maxAmount), uint32(a.expiry), payerTag);
        } else if (s.payerTag != payerTag) {
            return (0, WRONG_PAYER);
        }
        paid = cumulative - s.claimed;
        account.balance = view_.balance - uint128(paid);
        account.reserved = view_.reserved - uint128(paid);
        sessions[a.sessionId] = SessionState(uint80(cumulative), s.maxAmount, s.expiry, payerTag);
        emit Redeemed(a.sessionId, a.provider, paid, cumulative);
        return (paid, OK);
    }

    function withdrawEarnings() external {
        uint256 amount = earnings[msg.sender];
        if (amount == 0) revert BadAmount();
        earnings[msg.sender] = 0;
        token.safeTransfer(msg.sender, amount);
        emit EarningsWithdrawn(msg.sender, amount);
    }

    function claimed(bytes32 sessionId) external view returns (uint256) {
        return sessions[sessionId].claimed;
    }

    function freeBalance(address payer) external view returns (uint256) {
        Account memory account = accounts[payer];
        return account.balance - account.reserved;
    }
}
