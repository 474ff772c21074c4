// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice Test-only: a minimal ERC-1271 contract wallet for an inspection body, controlled by one owner key.
/// It accepts a signature when the owner signed the hash itself, and calls other contracts for the owner, so an
/// inspector that is a contract can attest both directly and through a relayed signature.
contract QualityInspectorWallet is IERC1271 {
    /// @notice Thrown when someone other than the owner asks the wallet to call a contract.
    /// @param caller The refused caller.
    error QualityInspectorWalletUnauthorized(address caller);

    /// @notice The key that controls the wallet.
    address public immutable OWNER;

    /// @notice While true the wallet rejects every signature (as a wallet does after its key is rotated).
    bool public locked;

    constructor(address owner) {
        OWNER = owner;
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError error,) = ECDSA.tryRecover(hash, signature);
        bool valid = !locked && error == ECDSA.RecoverError.NoError && recovered == OWNER;
        return valid ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }

    /// @notice Calls `target` with `data` as the wallet; the owner only. Bubbles a revert up unchanged.
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        if (msg.sender != OWNER) revert QualityInspectorWalletUnauthorized(msg.sender);
        return Address.functionCall(target, data);
    }

    /// @notice Makes the wallet reject (true) or accept (false) signatures; the owner only.
    function setLocked(bool value) external {
        if (msg.sender != OWNER) revert QualityInspectorWalletUnauthorized(msg.sender);
        locked = value;
    }
}
