// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

interface IEscrow {
    function deposit(uint256 amount) external;
}

/// @notice Tests only: a minimal smart-contract wallet whose owner's ECDSA signature stands for it (ERC-1271),
/// like the smart wallets studios and players may pay from. Its owner can turn it hostile: `greedy` makes it
/// burn every unit of gas it is given before answering, as a wallet would to sink a settlement batch; and
/// `originBound` makes it answer "valid" only to a call without a transaction sender (tx.origin == 0, as in an
/// eth_call with no `from`), as a wallet would to pass an off-chain check and refuse the real redeem.
contract TestSmartWallet is IERC1271 {
    address public immutable owner;
    bool public greedy;
    bool public originBound;

    constructor(address owner_) {
        owner = owner_;
    }

    function setGreedy(bool greedy_) external {
        require(msg.sender == owner, "not owner");
        greedy = greedy_;
    }

    function setOriginBound(bool originBound_) external {
        require(msg.sender == owner, "not owner");
        originBound = originBound_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (originBound && tx.origin != address(0)) return bytes4(0);
        if (greedy) {
            uint256 spin;
            while (gasleft() > 0) spin++;
        }
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && signer == owner ? IERC1271.isValidSignature.selector : bytes4(0);
    }

    function approveAndDeposit(IERC20 token, address escrow, uint256 amount) external {
        require(msg.sender == owner, "not owner");
        token.approve(escrow, amount);
        IEscrow(escrow).deposit(amount);
    }
}
