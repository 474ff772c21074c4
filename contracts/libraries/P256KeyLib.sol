// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title P256KeyLib
/// @notice The 20-byte id under which a P-256 (secp256r1) device key stands wherever a secp256k1 key stands as its
/// address: MachineRegistry's signer and key windows, EquipmentLease's running slot and the key listener calls.
/// @dev keyId = the low 160 bits of keccak256("millchain.p256" . qx . qy). The tag keeps the id apart from every
/// secp256k1 address (keccak256 of a 64-byte point): a secp256k1 key whose address equals a P-256 key id would need
/// a keccak preimage. docs/contracts/machine-registry.md, "Key types".
library P256KeyLib {
    bytes14 internal constant TAG = "millchain.p256";

    /// @notice The key id of the P-256 public key (qx, qy).
    function keyId(bytes32 qx, bytes32 qy) internal pure returns (address id) {
        bytes14 tag = TAG;
        // Safe: scratch use of free memory without moving the free memory pointer (nothing is allocated before
        // the hash).
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, tag)
            mstore(add(ptr, 0x0e), qx)
            mstore(add(ptr, 0x2e), qy)
            id := and(keccak256(ptr, 0x4e), 0xffffffffffffffffffffffffffffffffffffffff)
        }
    }
}
