// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test-only: an ERC-20 that, once armed, calls back into a victim contract in the middle of a transfer
/// out of it (as an ERC-777 hook or a malicious token would) and records how the callback ended, then lets the
/// transfer proceed. Used to show SupplyChainSettlement's paying functions cannot be re-entered.
contract SettlementReentrantToken is ERC20 {
    address public victim;
    bytes public callback;
    bool public reentered;
    bytes public reentryRevert;

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
            victim = address(0);
            (bool ok, bytes memory result) = target.call(callback);
            reentered = ok;
            reentryRevert = result;
        }
        super._update(from, to, value);
    }
}
