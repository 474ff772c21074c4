// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title DisclosureLib
/// @notice Verifies one disclosed field of a document committed on-chain as a Merkle root over salted fields.
/// @dev A document is a set of named fields. Each field gets a fresh random 32-byte salt, so a field's leaf
/// reveals nothing about its value, and one field can be disclosed (name, value, salt, proof) without the
/// others. Leaves are hashed twice, like OpenZeppelin's StandardMerkleTree, so no inner node can pose as a
/// leaf; pairs are hashed sorted (OpenZeppelin MerkleProof's convention). The SDK's millchain.disclosure
/// builds the same tree.
///   leaf = keccak256(bytes.concat(keccak256(abi.encode(keccak256(bytes(name)), salt, keccak256(value)))))
library DisclosureLib {
    /// @notice The leaf of field `name` with raw `value` and `salt`.
    function fieldLeaf(string memory name, bytes memory value, bytes32 salt) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(keccak256(bytes(name)), salt, keccak256(value)))));
    }

    /// @notice True when (`name`, `value`, `salt`) is a field of the document committed to by `root`.
    function verifyField(bytes32 root, string memory name, bytes memory value, bytes32 salt, bytes32[] memory proof)
        internal
        pure
        returns (bool)
    {
        return MerkleProof.verify(proof, root, fieldLeaf(name, value, salt));
    }

    /// @notice verifyField for arguments straight from calldata (no copies: smaller code in an external view).
    function verifyFieldCalldata(
        bytes32 root,
        string calldata name,
        bytes calldata value,
        bytes32 salt,
        bytes32[] calldata proof
    ) internal pure returns (bool) {
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(keccak256(bytes(name)), salt, keccak256(value)))));
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }
}
