// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {DisclosureLib} from "../libraries/DisclosureLib.sol";

/// @notice Test-only: exposes DisclosureLib so the SDK's tree can be checked against the contracts' own.
contract DisclosureHarness {
    function fieldLeaf(string calldata name, bytes calldata value, bytes32 salt) external pure returns (bytes32) {
        return DisclosureLib.fieldLeaf(name, value, salt);
    }

    function verifyField(bytes32 root, string calldata name, bytes calldata value, bytes32 salt, bytes32[] calldata proof)
        external
        pure
        returns (bool)
    {
        return DisclosureLib.verifyField(root, name, value, salt, proof);
    }
}
