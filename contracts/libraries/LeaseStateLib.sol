// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IEquipmentLease} from "../interfaces/IEquipmentLease.sol";

/// @notice Everything a usage report of a lease reads or writes, packed in one storage word so that settling a
/// report costs one SLOAD and one SSTORE. Bits, from the least significant:
///   [  0,  64) lastCounter      cumulative units of the last settled report
///   [ 64,  96) lastRuntime      cumulative runtime seconds of the last settled report
///   [ 96, 136) lastTimestamp    device timestamp of the last settled report (block timestamp of opening before)
///   [136, 232) escrow           prepaid balance left
///   [232, 240) status           IEquipmentLease.LeaseStatus
///   [240, 248) minBalanceBits   bit length of minBalance: an escrow >= 2**minBalanceBits is not below it
///   [248]       anchored         1 once the first report fixed the starting counters
///   [249]       keyUnconfirmed   1 when the key the word is stored under may no longer sign every report: every
///                                report then asks MachineRegistry (docs/contracts/equipment-lease.md, "Key check")
///   [250]       runtimeSlack     1 while the lease's one second of runtime sampling slack is in use: the runtime
///                                billed since the anchor is one second ahead of the time billed
///                                (docs/contracts/equipment-lease.md, "Plausibility")
type LeaseState is uint256;

using LeaseStateLib for LeaseState global;

/// @title LeaseStateLib
/// @notice Packing and unpacking of LeaseState.
library LeaseStateLib {
    uint256 private constant _RUNTIME_SHIFT = 64;
    uint256 private constant _TIMESTAMP_SHIFT = 96;
    uint256 private constant _ESCROW_SHIFT = 136;
    uint256 private constant _STATUS_SHIFT = 232;
    uint256 private constant _MIN_BALANCE_BITS_SHIFT = 240;
    uint256 private constant _ANCHORED_SHIFT = 248;
    uint256 private constant _KEY_UNCONFIRMED = 1 << 249;
    uint256 private constant _RUNTIME_SLACK = 1 << 250;

    uint256 private constant _TIMESTAMP_MASK = uint256(type(uint40).max) << _TIMESTAMP_SHIFT;
    uint256 private constant _ESCROW_MASK = uint256(type(uint96).max) << _ESCROW_SHIFT;
    uint256 private constant _STATUS_MASK = uint256(type(uint8).max) << _STATUS_SHIFT;

    /// @notice A state from all its fields.
    function pack(
        uint64 lastCounter_,
        uint32 lastRuntime_,
        uint40 lastTimestamp_,
        uint96 escrow_,
        IEquipmentLease.LeaseStatus status_,
        uint8 minBalanceBits_,
        bool anchored_
    ) internal pure returns (LeaseState) {
        return LeaseState.wrap(
            uint256(lastCounter_) | uint256(lastRuntime_) << _RUNTIME_SHIFT
                | uint256(lastTimestamp_) << _TIMESTAMP_SHIFT | uint256(escrow_) << _ESCROW_SHIFT
                | uint256(status_) << _STATUS_SHIFT | uint256(minBalanceBits_) << _MIN_BALANCE_BITS_SHIFT
                | (anchored_ ? 1 << _ANCHORED_SHIFT : 0)
        );
    }

    /// @notice The state after a settled report: new counters, escrow and status; anchored; keyUnconfirmed and
    /// runtimeSlack kept.
    function settled(
        LeaseState state,
        uint64 lastCounter_,
        uint32 lastRuntime_,
        uint40 lastTimestamp_,
        uint256 escrow_,
        IEquipmentLease.LeaseStatus status_
    ) internal pure returns (LeaseState) {
        // escrow_ is at most the previous escrow, a uint96, so it fits its 96 bits.
        return LeaseState.wrap(
            uint256(lastCounter_) | uint256(lastRuntime_) << _RUNTIME_SHIFT
                | uint256(lastTimestamp_) << _TIMESTAMP_SHIFT | escrow_ << _ESCROW_SHIFT
                | uint256(status_) << _STATUS_SHIFT | uint256(state.minBalanceBits()) << _MIN_BALANCE_BITS_SHIFT
                | 1 << _ANCHORED_SHIFT | LeaseState.unwrap(state) & (_KEY_UNCONFIRMED | _RUNTIME_SLACK)
        );
    }

    /// @notice Counter of the last settled report.
    function lastCounter(LeaseState state) internal pure returns (uint64) {
        return uint64(LeaseState.unwrap(state));
    }

    /// @notice Runtime seconds of the last settled report.
    function lastRuntime(LeaseState state) internal pure returns (uint32) {
        return uint32(LeaseState.unwrap(state) >> _RUNTIME_SHIFT);
    }

    /// @notice Timestamp of the last settled report; of opening before the first.
    function lastTimestamp(LeaseState state) internal pure returns (uint40) {
        return uint40(LeaseState.unwrap(state) >> _TIMESTAMP_SHIFT);
    }

    /// @notice Prepaid balance left.
    function escrow(LeaseState state) internal pure returns (uint96) {
        return uint96(LeaseState.unwrap(state) >> _ESCROW_SHIFT);
    }

    /// @notice Lifecycle state.
    function status(LeaseState state) internal pure returns (IEquipmentLease.LeaseStatus) {
        return IEquipmentLease.LeaseStatus(uint8(LeaseState.unwrap(state) >> _STATUS_SHIFT));
    }

    /// @notice Bit length of the lease's minBalance.
    function minBalanceBits(LeaseState state) internal pure returns (uint8) {
        return uint8(LeaseState.unwrap(state) >> _MIN_BALANCE_BITS_SHIFT);
    }

    /// @notice Whether the first report fixed the starting counters.
    function anchored(LeaseState state) internal pure returns (bool) {
        return LeaseState.unwrap(state) >> _ANCHORED_SHIFT & 1 != 0;
    }

    /// @notice Whether every report must ask MachineRegistry whether its key is valid.
    function keyUnconfirmed(LeaseState state) internal pure returns (bool) {
        return LeaseState.unwrap(state) & _KEY_UNCONFIRMED != 0;
    }

    /// @notice Whether the lease's second of runtime sampling slack is in use.
    function runtimeSlack(LeaseState state) internal pure returns (bool) {
        return LeaseState.unwrap(state) & _RUNTIME_SLACK != 0;
    }

    /// @notice The state with runtimeSlack set or cleared.
    function withRuntimeSlack(LeaseState state, bool inUse) internal pure returns (LeaseState) {
        return LeaseState.wrap(LeaseState.unwrap(state) & ~_RUNTIME_SLACK | (inUse ? _RUNTIME_SLACK : 0));
    }

    /// @notice Whether a report signed by the key this word is stored under settles without asking MachineRegistry:
    /// the lease runs (Active or Suspended) and its key was not rotated or revoked since it was confirmed.
    function settlesOnItsKey(LeaseState state) internal pure returns (bool) {
        // Active (2) and Suspended (3) differ in the lowest status bit only; keyUnconfirmed is bit 17 above status.
        return (LeaseState.unwrap(state) >> _STATUS_SHIFT) & (1 << 17 | 0xfe) == uint256(IEquipmentLease.LeaseStatus.Active);
    }

    /// @notice The state with keyUnconfirmed set or cleared.
    function withKeyUnconfirmed(LeaseState state, bool unconfirmed) internal pure returns (LeaseState) {
        return LeaseState.wrap(
            LeaseState.unwrap(state) & ~_KEY_UNCONFIRMED | (unconfirmed ? _KEY_UNCONFIRMED : 0)
        );
    }

    /// @notice The state with another lastTimestamp.
    function withLastTimestamp(LeaseState state, uint40 lastTimestamp_) internal pure returns (LeaseState) {
        return LeaseState.wrap(
            LeaseState.unwrap(state) & ~_TIMESTAMP_MASK | uint256(lastTimestamp_) << _TIMESTAMP_SHIFT
        );
    }

    /// @notice The state with another escrow.
    function withEscrow(LeaseState state, uint96 escrow_) internal pure returns (LeaseState) {
        return LeaseState.wrap(LeaseState.unwrap(state) & ~_ESCROW_MASK | uint256(escrow_) << _ESCROW_SHIFT);
    }

    /// @notice The state with another status.
    function withStatus(LeaseState state, IEquipmentLease.LeaseStatus status_) internal pure returns (LeaseState) {
        return LeaseState.wrap(LeaseState.unwrap(state) & ~_STATUS_MASK | uint256(status_) << _STATUS_SHIFT);
    }
}
