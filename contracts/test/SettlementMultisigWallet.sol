// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice Test-only: a threshold multisig standing in for a Safe as a buyer or supplier. Like Safe's
/// checkNSignatures it accepts `threshold` concatenated 65-byte owner signatures of the hash, owners in strictly
/// ascending address order (so no owner counts twice) — a signature longer than one ECDSA signature, which
/// SupplyChainSettlement must pass through to ERC-1271 unchanged. Owners call other contracts through it.
contract SettlementMultisigWallet is IERC1271 {
    /// @notice Thrown when someone other than an owner asks the wallet to call a contract.
    /// @param caller The refused caller.
    error SettlementMultisigWalletUnauthorized(address caller);

    /// @notice Signatures needed.
    uint256 public immutable THRESHOLD;

    mapping(address account => bool) public isOwner;

    /// @notice While true the wallet rejects every signature (as after its owners are rotated).
    bool public locked;

    constructor(address[] memory owners, uint256 threshold) {
        for (uint256 i = 0; i < owners.length; ++i) {
            isOwner[owners[i]] = true;
        }
        THRESHOLD = threshold;
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (locked || signature.length != THRESHOLD * 65) return bytes4(0xffffffff);
        address previous = address(0);
        for (uint256 i = 0; i < THRESHOLD; ++i) {
            (address owner, ECDSA.RecoverError error,) = ECDSA.tryRecover(hash, signature[i * 65:(i + 1) * 65]);
            if (error != ECDSA.RecoverError.NoError || !isOwner[owner] || owner <= previous) {
                return bytes4(0xffffffff);
            }
            previous = owner;
        }
        return IERC1271.isValidSignature.selector;
    }

    /// @notice Calls `target` with `data` as the wallet; owners only. Bubbles a revert up unchanged.
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        if (!isOwner[msg.sender]) revert SettlementMultisigWalletUnauthorized(msg.sender);
        return Address.functionCall(target, data);
    }

    /// @notice Makes the wallet reject (true) or accept (false) signatures; owners only.
    function setLocked(bool value) external {
        if (!isOwner[msg.sender]) revert SettlementMultisigWalletUnauthorized(msg.sender);
        locked = value;
    }
}
