// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IMachineKeyListener
/// @notice A contract MachineRegistry tells, in the same transaction, whenever a machine's signing key stops being
/// valid from now on: on a key rotation and on a revocation. A contract that caches "this key signs for this
/// machine" (EquipmentLease, to settle a report without asking the registry) relies on it to drop the cache at once.
/// @dev Listeners are added by the registry's admin and never removed (see IMachineRegistry.addKeyListener). The
/// registry lets a listener's revert undo the rotation or revocation, so a listener must not revert for any
/// machine, and must accept calls from its registry only.
interface IMachineKeyListener {
    /// @notice Called by the registry right after `machineId`'s key changed.
    /// @param machineId The machine.
    /// @param previousSigner The key valid until now (for a revocation: the machine's current key).
    /// @param newSigner The key valid from now on (for a revocation: the same key, now revoked).
    function onMachineKeyChanged(bytes32 machineId, address previousSigner, address newSigner) external;
}
