// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A stand-in for ATH on local chains only (anvil): 18 decimals, the whole supply minted to the
/// deployer. On Arbitrum the real ATH token's address comes from configuration instead.
contract AthToken is ERC20 {
    constructor(uint256 supply) ERC20("Aethir Token (local)", "ATH") {
        _mint(msg.sender, supply);
    }
}
