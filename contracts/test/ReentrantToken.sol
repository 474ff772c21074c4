// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";

/// @notice Test-only: an ERC-20 that, once armed, calls back into a victim contract in the middle of a
/// transfer into or out of it (as an ERC-777 hook or a malicious token would). The token can also act as a lease
/// party itself (`execute`), so a re-entrant call reaches the victim from its real lessor or lessee and only the
/// reentrancy guard and checks-effects-interactions stand in the way. Used to show that the paying functions of
/// EquipmentLease, QualityBonds and SupplyChainSettlement drain nothing.
contract ReentrantToken is ERC20 {
    address public victim;
    bytes public callback;
    /// @notice Whether a failing callback fails the transfer (true) or is recorded and swallowed (false).
    bool public bubble;

    /// @notice How many callbacks ran, whether the last succeeded, and what it returned or reverted with.
    uint256 public reentries;
    bool public lastReentrySucceeded;
    bytes public lastReentryResult;

    constructor() ERC20("Reentrant USD", "rUSD") {}

    /// @notice Mints `amount` to `to`; anyone (test token).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Calls `target` with `data` as this token (so it can offer, open and withdraw as a lease party),
    /// bubbling up any revert.
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        return Address.functionCall(target, data);
    }

    /// @notice On the next transfer from or to `target`, call `target` with `data` before moving the balance.
    function arm(address target, bytes calldata data, bool bubbleRevert) external {
        victim = target;
        callback = data;
        bubble = bubbleRevert;
    }

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function _update(address from, address to, uint256 value) internal override {
        address target = victim;
        if (target != address(0) && (from == target || to == target)) {
            victim = address(0); // one shot: the callback's own transfers must not recurse
            bytes memory data = callback;
            reentries += 1;
            if (bubble) {
                lastReentryResult = Address.functionCall(target, data);
                lastReentrySucceeded = true;
            } else {
                (bool ok, bytes memory result) = target.call(data);
                lastReentrySucceeded = ok;
                lastReentryResult = result;
            }
        }
        super._update(from, to, value);
    }
}
