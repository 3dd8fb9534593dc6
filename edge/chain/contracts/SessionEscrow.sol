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

    /// A session's authorization and its latest cumulative voucher (the voucher's session id is the auth's:
    /// not repeated in calldata). `usageSignature` may be empty when the meter itself submits.
    struct Redemption {
        SessionAuth auth;
        bytes authSignature;
        uint256 cumulativeAmount;
        uint64 deliveredSeconds;
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
    /// One per single redeem; a batch says how many it paid (per-session events would cost ≈1.4k gas each).
    /// `claimed(sessionId)` is the state the settler reconciles against either way.
    event Redeemed(bytes32 indexed sessionId, uint256 cumulative);
    event BatchRedeemed(uint256 paidCount, uint256 skippedCount, uint256 paidTotal);
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

    function hashUsage(Usage calldata u) external view returns (bytes32) {
        return _hashUsage(u.sessionId, u.cumulativeAmount, u.deliveredSeconds);
    }

    function _hashUsage(bytes32 sessionId, uint256 cumulativeAmount, uint64 deliveredSeconds) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(USAGE_TYPEHASH, sessionId, cumulativeAmount, deliveredSeconds)));
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
        emit Redeemed(r.auth.sessionId, r.cumulativeAmount);
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
        uint256 paidTotal;
        uint256 skipped;
        uint16 fbps = feeBps;
        uint16 sbps = checkerShareBps;
        for (uint256 i = 0; i < items.length; i++) {
            (uint256 paid, uint8 code) = _redeem(items[i]);
            if (code != OK) {
                emit VoucherSkipped(items[i].auth.sessionId, code);
                skipped++;
                continue;
            }
            paidTotal += paid;
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
        emit BatchRedeemed(items.length - skipped, skipped, paidTotal);
    }

    /// Checks a voucher and pays `cumulative − claimed` from the payer; on a session's first redeem the whole
    /// cap is reserved from the payer's free balance (and drawn down by later redeems). No state changes
    /// unless the result is OK.
    function _redeem(Redemption calldata r) private returns (uint256 paid, uint8 code) {
        SessionAuth calldata a = r.auth;
        uint256 cumulative = r.cumulativeAmount;
        SessionState memory s = sessions[a.sessionId];
        if (s.expiry != 0 && cumulative <= s.claimed) return (0, STALE);
        code = _checkTerms(a.maxAmount, a.pricePerSecond, a.expiry, cumulative, r.deliveredSeconds);
        if (code != OK) return (0, code);
        if (!_validPlayerSignature(a.player, hashSessionAuth(a), r.authSignature)) return (0, BAD_SIGNATURE);
        // When the meter submits its own vouchers it is the signer: no need to check its signature again.
        if (msg.sender != meter) {
            (address signer, ECDSA.RecoverError err,) =
                ECDSA.tryRecover(_hashUsage(a.sessionId, cumulative, r.deliveredSeconds), r.usageSignature);
            if (err != ECDSA.RecoverError.NoError || signer != meter) return (0, BAD_SIGNATURE);
        }
        return _settle(a.sessionId, a.player, a.maxAmount, a.expiry, cumulative, s);
    }

    function _checkTerms(uint256 maxAmount, uint256 pricePerSecond, uint256 expiry, uint256 cumulative, uint256 delivered)
        private
        view
        returns (uint8)
    {
        if (block.timestamp > expiry) return EXPIRED;
        if (cumulative > maxAmount || maxAmount > type(uint80).max || expiry > type(uint32).max) return OVER_CAP;
        if (cumulative > pricePerSecond * delivered) return OVER_PRICE;
        return OK;
    }

    /// Pays `cumulative − claimed` from the payer; on a session's first redeem the whole cap is reserved from
    /// the payer's free balance (and drawn down by later redeems). No state changes unless the result is OK.
    function _settle(bytes32 sessionId, address player, uint256 maxAmount, uint256 expiry, uint256 cumulative, SessionState memory s)
        private
        returns (uint256 paid, uint8 code)
    {
        Account memory account = accounts[player];
        uint64 payerTag = uint64(uint160(player));
        if (s.expiry == 0) {
            if (account.balance - account.reserved < maxAmount) return (0, INSUFFICIENT_ESCROW);
            account.reserved += uint128(maxAmount);
            s = SessionState(0, uint80(maxAmount), uint32(expiry), payerTag);
        } else if (s.payerTag != payerTag) {
            return (0, WRONG_PAYER);
        }
        paid = cumulative - s.claimed;
        accounts[player] = Account(account.balance - uint128(paid), account.reserved - uint128(paid));
        sessions[sessionId] = SessionState(uint80(cumulative), s.maxAmount, s.expiry, payerTag);
        return (paid, OK);
    }

    /// Size of one item of `redeemPacked`: sessionId 32, player 20, provider 20, maxAmount 10, pricePerSecond
    /// 10, expiry 4, cumulativeAmount 10, deliveredSeconds 4, then the player's signature r 32, s 32, v 1.
    uint256 private constant PACKED_ITEM = 175;

    /// The meter's compact batch for payers with plain keys (ECDSA): about a third less calldata than ABI
    /// structs, which is most of what separates a batch from the 40k-gas-per-session budget. Items whose
    /// signature is not the payer's key (smart wallets) are skipped; the settler sends those via `redeemBatch`.
    function redeemPacked(bytes calldata packed) external {
        if (msg.sender != meter) revert BadSignature();
        if (packed.length % PACKED_ITEM != 0) revert BadAmount();
        uint256 n = packed.length / PACKED_ITEM;
        address provider;
        uint256 owed;
        uint256 poolTotal;
        uint256 treasuryTotal;
        uint256 paidTotal;
        uint256 skipped;
        for (uint256 i = 0; i < n; i++) {
            bytes calldata item = packed[i * PACKED_ITEM:(i + 1) * PACKED_ITEM];
            (uint256 paid, uint8 code, address p) = _redeemPackedItem(item);
            if (code != OK) {
                emit VoucherSkipped(bytes32(item[0:32]), code);
                skipped++;
                continue;
            }
            paidTotal += paid;
            if (p != provider) {
                if (owed != 0) earnings[provider] += owed;
                provider = p;
                owed = 0;
            }
            uint256 fee = (paid * feeBps) / BPS;
            uint256 pool = (fee * checkerShareBps) / BPS;
            owed += paid - fee;
            poolTotal += pool;
            treasuryTotal += fee - pool;
        }
        if (owed != 0) earnings[provider] += owed;
        if (poolTotal != 0) earnings[checkerPool] += poolTotal;
        if (treasuryTotal != 0) earnings[treasury] += treasuryTotal;
        emit BatchRedeemed(n - skipped, skipped, paidTotal);
    }

    function _redeemPackedItem(bytes calldata item) private returns (uint256 paid, uint8 code, address provider) {
        bytes32 sessionId = bytes32(item[0:32]);
        uint256 cumulative = uint80(bytes10(item[96:106]));
        SessionState memory s = sessions[sessionId];
        if (s.expiry != 0 && cumulative <= s.claimed) return (0, STALE, address(0));
        address player = address(bytes20(item[32:52]));
        provider = address(bytes20(item[52:72]));
        uint256 maxAmount = uint80(bytes10(item[72:82]));
        uint256 price = uint80(bytes10(item[82:92]));
        uint256 expiry = uint32(bytes4(item[92:96]));
        code = _checkTerms(maxAmount, price, expiry, cumulative, uint32(bytes4(item[106:110])));
        if (code != OK) return (0, code, provider);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(SESSION_AUTH_TYPEHASH, sessionId, player, provider, maxAmount, price, expiry))
        );
        (address recovered, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(digest, uint8(item[174]), bytes32(item[110:142]), bytes32(item[142:174]));
        if (err != ECDSA.RecoverError.NoError || recovered != player) return (0, BAD_SIGNATURE, provider);
        (paid, code) = _settle(sessionId, player, maxAmount, expiry, cumulative, s);
    }

    /// ECDSA first (players' wallets are almost always plain keys): asking `code.length` first, as
    /// SignatureChecker does, costs a cold EXTCODESIZE (2,600 gas) per payer. Smart wallets (ERC-1271) and
    /// EIP-7702 accounts still work — a signature the key does not explain is put to the wallet contract.
    function _validPlayerSignature(address player, bytes32 hash, bytes calldata signature) private view returns (bool) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == player) return true;
        return SignatureChecker.isValidERC1271SignatureNowCalldata(player, hash, signature);
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
