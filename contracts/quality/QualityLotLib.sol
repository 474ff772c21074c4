// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title QualityLotLib
/// @notice The lineage digest a lot stores in place of its data commitment and input list.
/// @dev digest = keccak256(abi.encode(dataCommitment, keccak256(abi.encodePacked(inputs)))). Inputs are
/// bytes32 words, so abi.encodePacked(inputs) is their concatenation, exactly the calldata words; the SDK
/// (millchain.quality.lineage_digest) computes the same value.
library QualityLotLib {
    /// @notice The lineage digest of a lot with `dataCommitment` and `inputs`.
    function digest(bytes32 dataCommitment, bytes32[] calldata inputs) internal pure returns (bytes32 result) {
        bytes32 inputsHash;
        assembly ("memory-safe") {
            // Hash the array's words straight from calldata: no copy to memory, no per-element encoding.
            let ptr := mload(0x40)
            let size := shl(5, inputs.length)
            calldatacopy(ptr, inputs.offset, size)
            inputsHash := keccak256(ptr, size)
        }
        result = keccak256(abi.encode(dataCommitment, inputsHash));
    }

    /// @notice Whether `lotId` is among the strictly ascending `inputs` (binary search, at most 6 probes for
    /// 32 inputs).
    function contains(bytes32[] calldata inputs, bytes32 lotId) internal pure returns (bool) {
        uint256 low = 0;
        uint256 high = inputs.length;
        while (low < high) {
            // Cannot overflow: both are at most inputs.length, far below 2**255.
            uint256 mid;
            unchecked {
                mid = (low + high) >> 1;
            }
            bytes32 value = inputs[mid];
            if (value == lotId) return true;
            if (value < lotId) low = mid + 1;
            else high = mid;
        }
        return false;
    }
}
