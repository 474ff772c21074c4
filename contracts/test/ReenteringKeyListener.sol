// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC165} from "@openzeppelin/contracts/utils/introspection/ERC165.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {IMachineKeyListener} from "../interfaces/IMachineKeyListener.sol";

/// @notice Test-only: a MachineRegistry key listener that, once armed, calls a victim contract from inside a key
/// change, after the registry has changed the key and before the listeners after it have heard of it. It can also
/// act as a machine owner and lessor itself (`execute`), so the re-entrant call reaches the victim from its real
/// lessor. Used to show that EquipmentLease pays nothing while its running lease's word is between keys.
contract ReenteringKeyListener is ERC165, IMachineKeyListener {
    address public victim;
    bytes public callback;

    /// @notice How many callbacks ran, whether the last succeeded, and what it returned or reverted with.
    uint256 public reentries;
    bool public lastReentrySucceeded;
    bytes public lastReentryResult;

    /// @notice Calls `target` with `data` as this contract (so it can register, offer, rotate and withdraw).
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        return Address.functionCall(target, data);
    }

    /// @notice From now on every key change calls `target` with `data`; the outcome is recorded, never bubbled.
    function arm(address target, bytes calldata data) external {
        victim = target;
        callback = data;
    }

    /// @inheritdoc IMachineKeyListener
    function onMachineKeyChanged(bytes32, address, address) external {
        if (victim == address(0)) return;
        ++reentries;
        // Test-only: a low-level call on purpose, to record a revert instead of holding up the key change.
        // slither-disable-next-line low-level-calls
        (bool ok, bytes memory result) = victim.call(callback);
        lastReentrySucceeded = ok;
        lastReentryResult = result;
    }

    /// @inheritdoc ERC165
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IMachineKeyListener).interfaceId || super.supportsInterface(interfaceId);
    }
}
