// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";

/// @notice Test-only: an ERC-20 that, once armed, calls back into a victim contract in the middle of a
/// transfer out of it (as an ERC-777 hook or a malicious token would), bubbling up whatever the callback
/// reverts with. Used to show QualityBonds' paying functions cannot be re-entered.
contract QualityReentrantToken is ERC20 {
    address public victim;
    bytes public callback;

    constructor() ERC20("Reentrant USD", "rUSD") {}

    /// @notice Mints `amount` to `to`; anyone (test token).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice On the next transfer out of `target`, call `target` with `data` first.
    function arm(address target, bytes calldata data) external {
        victim = target;
        callback = data;
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function _update(address from, address to, uint256 value) internal override {
        address target = victim;
        if (target != address(0) && from == target) {
            bytes memory data = callback;
            victim = address(0);
            Address.functionCall(target, data);
        }
        super._update(from, to, value);
    }
}
