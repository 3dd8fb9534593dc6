// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";

/// @notice Players (and studios) deposit ATH; render-host providers are paid from it for metered sessions.
///
/// A session is paid with two signatures: the payer's `SessionAuth` (caps what the session can ever cost, at
/// a fixed price per second, until an expiry, to one provider) and the meter's cumulative `Usage` voucher (what
/// it has cost so far, for that one authorization: the voucher names the authorization's EIP-712 digest). Each
/// redeem pays the difference between the voucher and what was already claimed, so vouchers are idempotent: a
/// stale or replayed one pays nothing. The fee is split per redeemed amount exactly as the off-chain ledger
/// does: fee = amount·feeBps/10⁴, checker pool = fee·checkerShareBps/10⁴, treasury the rest.
///
/// A session's terms are fixed by its first redeem: the escrow stores (part of) that authorization's digest
/// and every later redeem must bring the same authorization — payee, price, cap, expiry and payer cannot be
/// changed by any later signature, and no redeem pays more than the stored cap or anyone but the stored
/// provider. The meter's last voucher of an ended session is sent as *final*: it pays and releases what the
/// session had reserved beyond it.
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
        keccak256("Usage(bytes32 sessionId,bytes32 authHash,uint256 cumulativeAmount,uint64 deliveredSeconds)");
    uint256 private constant BPS = 10_000;
    /// Gas a smart wallet (ERC-1271) may use to answer for a signature: a wallet that burns more is refused,
    /// and can never make a batch run out of gas. The server applies the same cap (it asks `checkAuthorization`).
    uint256 public constant ERC1271_GAS = 50_000;

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
        bytes32 authHash;
        uint256 cumulativeAmount;
        uint64 deliveredSeconds;
    }

    /// A session's authorization and its latest cumulative voucher (the voucher's session id and authorization
    /// digest are the auth's: not repeated in calldata). `usageSignature` may be empty when the meter itself
    /// submits. `close` (honoured from the meter only) marks the session's last voucher: the unused part of
    /// its cap is released to the payer.
    struct Redemption {
        SessionAuth auth;
        bytes authSignature;
        uint256 cumulativeAmount;
        uint64 deliveredSeconds;
        bytes usageSignature;
        bool close;
    }

    /// One storage word per session — what keeps a first redeem near 20k gas of storage: the claimed amount in
    /// bits 0–79 (up to ≈1.2 million ATH per session), two flags in bits 80–87, and in bits 88–255 the first
    /// 21 bytes of the digest of the authorization that registered the session. The cap, expiry, payer and
    /// provider are not stored: every redeem brings the authorization, and its digest must match.
    uint256 private constant CLAIMED_MASK = (1 << 80) - 1;
    uint256 private constant REGISTERED = 1 << 80;
    uint256 private constant CLOSED = 1 << 81;
    uint256 private constant TAG_SHIFT = 88;

    struct Account {
        uint128 balance;
        /// What registered, open sessions may still claim.
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

    mapping(bytes32 => uint256) private sessions;
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
    /// A session was closed (its final voucher, or its expiry): `unclaimed` of its reserve went back to the payer.
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
    error WrongTerms();
    error Closed();
    error InsufficientEscrow(uint256 free, uint256 needed);
    error NotExpired();
    /// Not enough gas left to give a smart wallet its `ERC1271_GAS`: the whole transaction needs more gas.
    error GasForWallet();

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
        return _hashAuth(a.sessionId, a.player, a.provider, a.maxAmount, a.pricePerSecond, a.expiry);
    }

    function hashUsage(Usage calldata u) external view returns (bytes32) {
        return _hashUsage(u.sessionId, u.authHash, u.cumulativeAmount, u.deliveredSeconds);
    }

    function _hashUsage(bytes32 sessionId, bytes32 authHash, uint256 cumulativeAmount, uint256 deliveredSeconds)
        private
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(USAGE_TYPEHASH, sessionId, authHash, cumulativeAmount, deliveredSeconds)));
    }

    function _hashAuth(bytes32 sessionId, address player, address provider, uint256 maxAmount, uint256 price, uint256 expiry)
        private
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(
            keccak256(abi.encode(SESSION_AUTH_TYPEHASH, sessionId, player, provider, maxAmount, price, expiry))
        );
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

    /// Frees the reserve of an open session whose authorization has expired (anyone may call it; it only ever
    /// helps the payer). The authorization must be the one that registered the session.
    function releaseExpired(SessionAuth calldata a) external {
        uint256 word = sessions[a.sessionId];
        if (word & REGISTERED == 0 || word & CLOSED != 0 || block.timestamp <= a.expiry) revert NotExpired();
        if (word >> TAG_SHIFT != uint256(hashSessionAuth(a)) >> TAG_SHIFT) revert WrongTerms();
        uint256 unclaimed = a.maxAmount - (word & CLAIMED_MASK);
        accounts[a.player].reserved -= uint128(unclaimed);
        sessions[a.sessionId] = word | CLOSED;
        emit SessionReleased(a.sessionId, unclaimed);
    }

    // ---- redeeming ---------------------------------------------------------------------------------------

    /// Why a voucher is not paid. `redeem` reverts with the matching error; the batches skip the item with
    /// `VoucherSkipped(sessionId, code)`, so one bad voucher never loses a whole batch.
    uint8 private constant OK = 0;
    uint8 private constant STALE = 1;
    uint8 private constant BAD_SIGNATURE = 2;
    uint8 private constant EXPIRED = 3;
    uint8 private constant OVER_CAP = 4;
    uint8 private constant OVER_PRICE = 5;
    uint8 private constant INSUFFICIENT_ESCROW = 6;
    /// The voucher's authorization is not the one that registered the session (another payee, price, cap…).
    uint8 private constant WRONG_TERMS = 7;
    /// The session was closed (final voucher or expiry): nothing more can be drawn.
    uint8 private constant CLOSED_SESSION = 8;

    function redeem(Redemption calldata r) external {
        SessionAuth calldata a = r.auth;
        (uint256 paid, uint8 code) = _redeemAbi(r);
        if (code == STALE) revert Stale();
        if (code == BAD_SIGNATURE) revert BadSignature();
        if (code == EXPIRED) revert Expired();
        if (code == OVER_CAP) revert OverCap();
        if (code == OVER_PRICE) revert OverPrice();
        if (code == INSUFFICIENT_ESCROW) {
            Account memory account = accounts[a.player];
            bool close = r.close && msg.sender == meter;
            revert InsufficientEscrow(account.balance - account.reserved, close ? r.cumulativeAmount : a.maxAmount);
        }
        if (code == WRONG_TERMS) revert WrongTerms();
        if (code == CLOSED_SESSION) revert Closed();
        emit Redeemed(a.sessionId, r.cumulativeAmount);
        uint256 fee = (paid * feeBps) / BPS;
        uint256 pool = (fee * checkerShareBps) / BPS;
        earnings[a.provider] += paid - fee;
        earnings[checkerPool] += pool;
        earnings[treasury] += fee - pool;
    }

    /// Redeems many vouchers in one transaction. Earnings are credited once per run of equal providers
    /// (the settler sorts a batch by provider) and once for the pool and the treasury. The fee is split per
    /// item, exactly as the ledger journals each item, so both agree to the wei.
    function redeemBatch(Redemption[] calldata items) external {
        uint256 fbps = feeBps;
        uint256 sbps = checkerShareBps;
        address provider;
        uint256 owed;
        uint256 poolTotal;
        uint256 treasuryTotal;
        uint256 paidTotal;
        uint256 skipped;
        for (uint256 i = 0; i < items.length; i++) {
            uint256 freeMemory = _freeMemory();
            (uint256 paid, uint8 code) = _redeemAbi(items[i]);
            _resetMemory(freeMemory);
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

    /// Each item's scratch memory (the encoded struct it hashes) is given back after the item: memory costs
    /// grow with the square of its size, so a batch of 50 would otherwise pay for all 50 at once.
    function _freeMemory() private pure returns (uint256 pointer) {
        assembly ("memory-safe") {
            pointer := mload(0x40)
        }
    }

    function _resetMemory(uint256 pointer) private pure {
        assembly ("memory-safe") {
            mstore(0x40, pointer)
        }
    }

    /// One ABI item: the stored session's verdict, the payer's signature on a first redeem (ECDSA or ERC-1271),
    /// the meter's voucher signature unless the meter sends, then the payment.
    function _redeemAbi(Redemption calldata r) private returns (uint256 paid, uint8 code) {
        SessionAuth calldata a = r.auth;
        bytes32 digest = hashSessionAuth(a);
        bool close = r.close && msg.sender == meter;
        uint256 word;
        (code, word) = _check(a.sessionId, a.maxAmount, a.pricePerSecond, a.expiry, digest, r.cumulativeAmount, r.deliveredSeconds, close);
        if (code != OK) return (0, code);
        if (word & REGISTERED == 0 && !_validPlayerSignature(a.player, digest, r.authSignature)) return (0, BAD_SIGNATURE);
        // When the meter submits its own vouchers it is the signer: no need to check its signature again.
        if (msg.sender != meter) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(
                _hashUsage(a.sessionId, digest, r.cumulativeAmount, r.deliveredSeconds), r.usageSignature
            );
            if (err != ECDSA.RecoverError.NoError || signer != meter) return (0, BAD_SIGNATURE);
        }
        return _settle(a.sessionId, a.player, a.maxAmount, digest, r.cumulativeAmount, close, word);
    }

    /// What the stored session says about a voucher: OK to go on (the caller then checks the payer's signature
    /// if the session is not registered yet; later redeems are bound by the stored tag), or why not.
    function _check(
        bytes32 sessionId,
        uint256 maxAmount,
        uint256 price,
        uint256 expiry,
        bytes32 digest,
        uint256 cumulative,
        uint256 delivered,
        bool close
    ) private view returns (uint8 code, uint256 word) {
        word = sessions[sessionId];
        uint256 claimedNow = word & CLAIMED_MASK;
        bool registered = word & REGISTERED != 0;
        if (registered && word >> TAG_SHIFT != uint256(digest) >> TAG_SHIFT) return (WRONG_TERMS, word);
        // A final voucher at the claimed amount still closes an open session (it releases the reserve).
        bool releaseOnly = close && registered && word & CLOSED == 0 && cumulative == claimedNow;
        if (cumulative <= claimedNow && !releaseOnly) return (STALE, word);
        if (word & CLOSED != 0) return (CLOSED_SESSION, word);
        return (_checkTerms(maxAmount, price, expiry, cumulative, delivered, !releaseOnly), word);
    }

    function _checkTerms(uint256 maxAmount, uint256 price, uint256 expiry, uint256 cumulative, uint256 delivered, bool paying)
        private
        view
        returns (uint8)
    {
        if (paying && block.timestamp > expiry) return EXPIRED;
        if (cumulative > maxAmount || maxAmount > type(uint80).max || expiry > type(uint32).max) return OVER_CAP;
        if (price > type(uint80).max || delivered > type(uint64).max || cumulative > price * delivered) return OVER_PRICE;
        return OK;
    }

    /// Pays `cumulative − claimed` from the payer. A session's first redeem registers it — stores the
    /// authorization's tag and reserves its whole cap from the payer's free balance (only the voucher, when it
    /// is also the last); a final voucher releases what is left of the reserve. No state changes unless OK.
    function _settle(bytes32 sessionId, address player, uint256 maxAmount, bytes32 digest, uint256 cumulative, bool close, uint256 word)
        private
        returns (uint256 paid, uint8 code)
    {
        Account memory account = accounts[player];
        uint256 reserved = account.reserved;
        bool registered = word & REGISTERED != 0;
        if (!registered) {
            uint256 hold = close ? cumulative : maxAmount;
            if (account.balance - reserved < hold) return (0, INSUFFICIENT_ESCROW);
            reserved += hold;
            word = (uint256(digest) >> TAG_SHIFT) << TAG_SHIFT;
        }
        paid = cumulative - (word & CLAIMED_MASK);
        reserved -= paid;
        uint256 flags = REGISTERED;
        if (close) {
            flags |= CLOSED;
            uint256 unclaimed = registered ? maxAmount - cumulative : 0;
            reserved -= unclaimed;
            emit SessionReleased(sessionId, unclaimed);
        }
        accounts[player] = Account(account.balance - uint128(paid), uint128(reserved));
        sessions[sessionId] = (word & ~CLAIMED_MASK) | flags | cumulative;
        return (paid, OK);
    }

    /// Layout of one item of `redeemPacked`: sessionId 32, player 20, provider 20, maxAmount 10, pricePerSecond
    /// 10, expiry 4, cumulativeAmount 10, deliveredSeconds 4, flags 1 (bit 0: final voucher; bit 1: the
    /// payer's signature follows) — 111 bytes — then, when flagged, the payer's signature r 32, s 32, v 1.
    uint256 private constant PACKED_HEAD = 111;
    uint256 private constant PACKED_SIGNATURE = 65;

    /// The meter's compact batch for payers with plain keys (ECDSA): about a third less calldata than ABI
    /// structs, which is most of what separates a batch from the 40k-gas-per-session budget. Sessions already
    /// registered need no signature (their tag is checked): later vouchers are 111 bytes. Items whose
    /// signature is not the payer's key (smart wallets) are skipped; the settler sends those via `redeemBatch`.
    function redeemPacked(bytes calldata packed) external {
        if (msg.sender != meter) revert BadSignature();
        uint256 fbps = feeBps;
        uint256 sbps = checkerShareBps;
        address provider;
        uint256 owed;
        uint256 poolTotal;
        uint256 treasuryTotal;
        uint256 paidTotal;
        uint256 skipped;
        uint256 n;
        uint256 at;
        while (at < packed.length) {
            uint256 freeMemory = _freeMemory();
            (uint256 paid, uint8 code, address p, uint256 next) = _redeemPackedItem(packed, at);
            _resetMemory(freeMemory);
            n++;
            if (code != OK) {
                bytes32 skippedId;
                assembly ("memory-safe") {
                    skippedId := calldataload(add(packed.offset, at))
                }
                emit VoucherSkipped(skippedId, code);
                skipped++;
                at = next;
                continue;
            }
            at = next;
            paidTotal += paid;
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
        emit BatchRedeemed(n - skipped, skipped, paidTotal);
    }

    function _redeemPackedItem(bytes calldata packed, uint256 at)
        private
        returns (uint256 paid, uint8 code, address provider, uint256 next)
    {
        uint256 length = packed.length;
        uint256 o;
        bytes32 sessionId;
        address player;
        uint256 maxAmount;
        uint256 price;
        uint256 expiry;
        uint256 cumulative;
        uint256 delivered;
        uint256 flags;
        unchecked {
            next = at + PACKED_HEAD;
            if (next > length) revert BadAmount();
            assembly ("memory-safe") {
                o := add(packed.offset, at)
                sessionId := calldataload(o)
                player := shr(96, calldataload(add(o, 32)))
                provider := shr(96, calldataload(add(o, 52)))
                maxAmount := shr(176, calldataload(add(o, 72)))
                price := shr(176, calldataload(add(o, 82)))
                expiry := shr(224, calldataload(add(o, 92)))
                cumulative := shr(176, calldataload(add(o, 96)))
                delivered := shr(224, calldataload(add(o, 106)))
                flags := byte(0, calldataload(add(o, 110)))
            }
            if (flags & 2 != 0) {
                next += PACKED_SIGNATURE;
                if (next > length) revert BadAmount();
            }
        }
        bytes32 digest = _hashAuth(sessionId, player, provider, maxAmount, price, expiry);
        bool close = flags & 1 != 0;
        uint256 word;
        (code, word) = _check(sessionId, maxAmount, price, expiry, digest, cumulative, delivered, close);
        if (code != OK) return (0, code, provider, next);
        if (word & REGISTERED == 0) {
            if (flags & 2 == 0) return (0, BAD_SIGNATURE, provider, next);
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly ("memory-safe") {
                r := calldataload(add(o, 111))
                s := calldataload(add(o, 143))
                v := byte(0, calldataload(add(o, 175)))
            }
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, v, r, s);
            if (err != ECDSA.RecoverError.NoError || recovered != player) return (0, BAD_SIGNATURE, provider, next);
        }
        (paid, code) = _settle(sessionId, player, maxAmount, digest, cumulative, close, word);
    }

    /// Whether a first redeem of this authorization would be honoured now — the same checks as `redeem`'s
    /// (signature rules, ERC-1271 with its gas cap, expiry and amount bounds, the payer's free balance), for
    /// the server to ask before it lets a session start. 0 = OK, else the skip code a redeem would give.
    function checkAuthorization(SessionAuth calldata a, bytes calldata signature) external view returns (uint8) {
        bytes32 digest = hashSessionAuth(a);
        uint256 word = sessions[a.sessionId];
        if (word != 0) return word >> TAG_SHIFT == uint256(digest) >> TAG_SHIFT ? STALE : WRONG_TERMS;
        uint8 code = _checkTerms(a.maxAmount, a.pricePerSecond, a.expiry, 0, 0, true);
        if (code != OK) return code;
        if (!_validPlayerSignature(a.player, digest, signature)) return BAD_SIGNATURE;
        Account memory account = accounts[a.player];
        if (account.balance - account.reserved < a.maxAmount) return INSUFFICIENT_ESCROW;
        return OK;
    }

    /// ECDSA first (players' wallets are almost always plain keys): asking `code.length` first, as
    /// SignatureChecker does, costs a cold EXTCODESIZE (2,600 gas) per payer. Smart wallets (ERC-1271) and
    /// EIP-7702 accounts still work — a signature the key does not explain is put to the wallet contract, with
    /// at most `ERC1271_GAS` to answer.
    function _validPlayerSignature(address player, bytes32 hash, bytes calldata signature) private view returns (bool) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == player) return true;
        if (player.code.length == 0) return false;
        if (gasleft() < ERC1271_GAS + ERC1271_GAS / 63 + 10_000) revert GasForWallet();
        bytes4 selector = IERC1271.isValidSignature.selector;
        uint256 length = signature.length;
        bool result;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), hash)
            mstore(add(ptr, 0x24), 0x40)
            mstore(add(ptr, 0x44), length)
            calldatacopy(add(ptr, 0x64), signature.offset, length)
            mstore(add(add(ptr, 0x64), length), 0)
            let padded := shl(5, shr(5, add(length, 0x1F)))
            // Only the first 32 bytes of the answer are copied: a wallet cannot make us pay for a huge reply.
            let success := staticcall(ERC1271_GAS, player, ptr, add(padded, 0x64), 0x00, 0x20)
            result := and(success, and(gt(returndatasize(), 0x1f), eq(mload(0x00), selector)))
        }
        return result;
    }

    function withdrawEarnings() external {
        uint256 amount = earnings[msg.sender];
        if (amount == 0) revert BadAmount();
        earnings[msg.sender] = 0;
        token.safeTransfer(msg.sender, amount);
        emit EarningsWithdrawn(msg.sender, amount);
    }

    function claimed(bytes32 sessionId) external view returns (uint256) {
        return sessions[sessionId] & CLAIMED_MASK;
    }

    /// Whether the session was closed (its final voucher, or its expiry, released its reserve).
    function closed(bytes32 sessionId) external view returns (bool) {
        return sessions[sessionId] & CLOSED != 0;
    }

    function freeBalance(address payer) external view returns (uint256) {
        Account memory account = accounts[payer];
        return account.balance - account.reserved;
    }
}
