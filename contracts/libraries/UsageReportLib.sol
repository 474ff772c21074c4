// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IEquipmentLease} from "../interfaces/IEquipmentLease.sol";

/// @title UsageReportLib
/// @notice EIP-712 struct hash of a UsageReport. The SDK and the oracle build the same typed data
/// (millchain/typed_data.py); the type string below is the one a wallet shows and must not change.
library UsageReportLib {
    /// @dev keccak256 of the EIP-712 type string of UsageReport.
    bytes32 internal constant TYPEHASH = keccak256(
        "UsageReport(uint256 leaseId,bytes32 machineId,uint64 counter,uint32 runtimeSeconds,uint40 timestamp)"
    );

    /// @notice hashStruct(report) per EIP-712.
    /// @dev Every member of UsageReport is a static type encoded as one 32-byte word, so the encoding EIP-712
    /// hashes is the type hash followed by the report's five ABI words exactly as they sit in calldata. Copying
    /// them in one go avoids abi.encode's per-member cleanup and a memory allocation per report, which adds up in
    /// a batch. A word with dirty high bits cannot slip through: the caller reads every member through the
    /// checked Solidity accessor, which reverts on such input, and the hash would not match the device's
    /// signature anyway.
    function hash(IEquipmentLease.UsageReport calldata report) internal pure returns (bytes32 digest) {
        bytes32 typehash = TYPEHASH;
        assembly ("memory-safe") {
            // Scratch use of free memory without moving the free memory pointer: nothing else is allocated
            // between writing and hashing.
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), report, 0xa0)
            digest := keccak256(ptr, 0xc0)
        }
    }
}
