// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC165Checker} from "@openzeppelin/contracts/utils/introspection/ERC165Checker.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IMachineKeyListener} from "../interfaces/IMachineKeyListener.sol";
import {IMachineRegistry} from "../interfaces/IMachineRegistry.sol";
import {P256KeyLib} from "../libraries/P256KeyLib.sol";

/// @title MachineRegistry
/// @notice Registry of machine identities: owner, signing key with its validity in time, metadata commitment.
/// @dev isValidSigner is on the per-report hot path of the lease contract, so the state it needs for the current
/// key (signer, signerSince, revokedAt, status) is packed into one slot; only keys that were rotated out live in
/// a second mapping and cost a second lookup. DEFAULT_ADMIN_ROLE administers roles and key listeners; REGISTRAR_ROLE
/// administers machines on behalf of their owners. rotateKey and revoke call every key listener (EquipmentLease
/// caches the key its running leases are signed with, and drops it there).
contract MachineRegistry is IMachineRegistry, AccessControl {
    /// @dev The hot slot: 160 + 40 + 40 + 8 = 248 bits.
    struct KeyState {
        address signer;
        uint40 signerSince;
        uint40 revokedAt;
        MachineStatus status;
    }

    /// @dev Three consecutive slots: key state, owner + registeredAt, metadata commitment.
    struct MachineRecord {
        KeyState key;
        address owner;
        uint40 registeredAt;
        bytes32 metadataCommitment;
    }

    /// @dev A key the machine has rotated away from, with its closed window [validFrom, validUntil).
    /// `retired` marks the key as used, independently of the timestamps. One slot.
    struct RetiredKey {
        uint40 validFrom;
        uint40 validUntil;
        bool retired;
    }

    /// @dev A P-256 key's public key, by key id. Two slots, written once (the id is a hash of them, so there is
    /// nothing else to write).
    struct P256Key {
        bytes32 qx;
        bytes32 qy;
    }

    /// @inheritdoc IMachineRegistry
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @inheritdoc IMachineRegistry
    uint256 public constant MAX_KEY_LISTENERS = 8;

    /// @dev Bit offsets of KeyState's members in its slot, for _keyState.
    uint256 private constant _SIGNER_SINCE_SHIFT = 160;
    uint256 private constant _REVOKED_AT_SHIFT = 200;
    uint256 private constant _STATUS_SHIFT = 240;

    mapping(bytes32 machineId => MachineRecord) private _machines;
    mapping(bytes32 machineId => mapping(address signer => RetiredKey)) private _retiredKeys;
    address[] private _keyListeners;
    mapping(address account => bool) private _isKeyListener;
    mapping(address keyId => P256Key) private _p256Keys;
    /// @dev Per machine, not per key: anyone may register a machine of their own with any public key, and must not
    /// be able to set or erase what another machine's registration says about the same key's attestation.
    mapping(bytes32 machineId => mapping(address keyId => bytes32 evidenceHash)) private _evidenceHashes;

    /// @param admin Account granted DEFAULT_ADMIN_ROLE and REGISTRAR_ROLE.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    // ---------------------------------------------------------------- changes

    /// @inheritdoc IMachineRegistry
    function register(bytes32 machineId, address owner, address signer, bytes32 metadataCommitment) external {
        _register(machineId, owner, signer, metadataCommitment);
    }

    /// @inheritdoc IMachineRegistry
    function registerP256(
        bytes32 machineId,
        address owner,
        bytes32 qx,
        bytes32 qy,
        bytes32 evidenceHash,
        bytes32 metadataCommitment
    ) external {
        address keyId = _recordP256Key(machineId, qx, qy, evidenceHash);
        _register(machineId, owner, keyId, metadataCommitment);
        emit MachineP256KeySet(machineId, keyId, qx, qy, evidenceHash);
    }

    /// @dev The checks and effects of register.
    function _register(bytes32 machineId, address owner, address signer, bytes32 metadataCommitment) private {
        if (owner != msg.sender && !hasRole(REGISTRAR_ROLE, msg.sender)) {
            revert MachineRegistryUnauthorized(machineId, msg.sender);
        }
        if (machineId == bytes32(0)) revert MachineRegistryZeroMachineId();
        if (owner == address(0)) revert MachineRegistryZeroOwner(machineId);
        if (signer == address(0)) revert MachineRegistryZeroSigner(machineId);
        MachineRecord storage machine = _machines[machineId];
        if (machine.key.status != MachineStatus.Unregistered) revert MachineRegistryAlreadyRegistered(machineId);

        uint40 timestamp = _now();
        machine.key = KeyState({signer: signer, signerSince: timestamp, revokedAt: 0, status: MachineStatus.Active});
        machine.owner = owner;
        machine.registeredAt = timestamp;
        machine.metadataCommitment = metadataCommitment;
        emit MachineRegistered(machineId, owner, signer, metadataCommitment);
    }

    /// @inheritdoc IMachineRegistry
    function updateMetadata(bytes32 machineId, bytes32 metadataCommitment) external {
        MachineRecord storage machine = _changeableMachine(machineId);
        bytes32 previousCommitment = machine.metadataCommitment;
        machine.metadataCommitment = metadataCommitment;
        emit MachineMetadataUpdated(machineId, previousCommitment, metadataCommitment);
    }

    /// @inheritdoc IMachineRegistry
    function transferOwnership(bytes32 machineId, address newOwner) external {
        MachineRecord storage machine = _changeableMachine(machineId);
        if (newOwner == address(0)) revert MachineRegistryZeroOwner(machineId);
        address previousOwner = machine.owner;
        machine.owner = newOwner;
        emit MachineOwnershipTransferred(machineId, previousOwner, newOwner);
    }

    /// @inheritdoc IMachineRegistry
    function rotateKey(bytes32 machineId, address newSigner) external {
        _rotateKey(machineId, newSigner);
    }

    /// @inheritdoc IMachineRegistry
    function rotateKeyP256(bytes32 machineId, bytes32 qx, bytes32 qy, bytes32 evidenceHash) external {
        address keyId = _recordP256Key(machineId, qx, qy, evidenceHash);
        _rotateKey(machineId, keyId);
        emit MachineP256KeySet(machineId, keyId, qx, qy, evidenceHash);
    }

    /// @dev The checks and effects of rotateKey; then the key listeners are called.
    function _rotateKey(bytes32 machineId, address newSigner) private {
        MachineRecord storage machine = _changeableMachine(machineId);
        if (newSigner == address(0)) revert MachineRegistryZeroSigner(machineId);
        KeyState memory key = machine.key;
        if (newSigner == key.signer || _retiredKeys[machineId][newSigner].retired) {
            revert MachineRegistryKeyReused(machineId, newSigner);
        }

        uint40 timestamp = _now();
        _retiredKeys[machineId][key.signer] =
            RetiredKey({validFrom: key.signerSince, validUntil: timestamp, retired: true});
        machine.key = KeyState({signer: newSigner, signerSince: timestamp, revokedAt: 0, status: MachineStatus.Active});
        emit MachineKeyRotated(machineId, key.signer, newSigner, timestamp);
        _notifyKeyListeners(machineId, key.signer, newSigner);
    }

    /// @inheritdoc IMachineRegistry
    function revoke(bytes32 machineId) external {
        MachineRecord storage machine = _changeableMachine(machineId);
        uint40 timestamp = _now();
        machine.key.revokedAt = timestamp;
        machine.key.status = MachineStatus.Revoked;
        emit MachineRevoked(machineId, timestamp);
        address signer = machine.key.signer;
        _notifyKeyListeners(machineId, signer, signer);
    }

    /// @inheritdoc IMachineRegistry
    function addKeyListener(address listener) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_isKeyListener[listener]) revert MachineRegistryListenerExists(listener);
        if (_keyListeners.length == MAX_KEY_LISTENERS) revert MachineRegistryTooManyListeners(MAX_KEY_LISTENERS);
        if (!ERC165Checker.supportsInterface(listener, type(IMachineKeyListener).interfaceId)) {
            revert MachineRegistryInvalidListener(listener);
        }
        _isKeyListener[listener] = true;
        _keyListeners.push(listener);
        emit KeyListenerAdded(listener);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IMachineRegistry
    function p256KeyId(bytes32 qx, bytes32 qy) external pure returns (address) {
        return P256KeyLib.keyId(qx, qy);
    }

    /// @inheritdoc IMachineRegistry
    function p256KeyOf(address keyId) external view returns (bytes32 qx, bytes32 qy) {
        P256Key storage key = _p256Keys[keyId];
        return (key.qx, key.qy);
    }

    /// @inheritdoc IMachineRegistry
    function evidenceHashOf(bytes32 machineId, address keyId) external view returns (bytes32) {
        return _evidenceHashes[machineId][keyId];
    }

    /// @inheritdoc IMachineRegistry
    function keyTypeOf(address signer) external view returns (KeyType) {
        P256Key storage key = _p256Keys[signer];
        // A point with x = 0 is on P-256 (y**2 = b), so a recorded key is one with either coordinate non-zero.
        return key.qx != 0 || key.qy != 0 ? KeyType.P256 : KeyType.Secp256k1;
    }

    /// @inheritdoc IMachineRegistry
    function ownerOf(bytes32 machineId) external view returns (address owner) {
        // A registered machine always has a non-zero owner, so this needs no read of the status slot.
        owner = _machines[machineId].owner;
        if (owner == address(0)) revert MachineRegistryUnknownMachine(machineId);
    }

    /// @inheritdoc IMachineRegistry
    function isKeyListener(address account) external view returns (bool) {
        return _isKeyListener[account];
    }

    /// @inheritdoc IMachineRegistry
    function keyListeners() external view returns (address[] memory) {
        return _keyListeners;
    }

    /// @inheritdoc IMachineRegistry
    function signerOf(bytes32 machineId) external view returns (address signer, MachineStatus status) {
        (signer,,, status) = _keyState(machineId);
    }

    /// @inheritdoc IMachineRegistry
    function isValidSigner(bytes32 machineId, address signer, uint256 timestamp) external view returns (bool) {
        (address currentSigner, uint40 signerSince, uint40 revokedAt, MachineStatus status) = _keyState(machineId);
        // An unregistered id has currentSigner == 0, so this check also keeps the zero address from matching it;
        // a registered machine never has the zero address as a current or retired key.
        if (status == MachineStatus.Unregistered) return false;
        if (status == MachineStatus.Revoked && timestamp >= revokedAt) return false;
        if (signer == currentSigner) return timestamp >= signerSince;
        // Only a key that was rotated out reaches the second lookup; a key never used reads (0, 0) and fails.
        RetiredKey storage retiredKey = _retiredKeys[machineId][signer];
        return timestamp >= retiredKey.validFrom && timestamp < retiredKey.validUntil;
    }

    /// @inheritdoc IMachineRegistry
    function getMachine(bytes32 machineId) external view returns (Machine memory) {
        MachineRecord storage machine = _existingMachine(machineId);
        KeyState memory key = machine.key;
        return Machine({
            owner: machine.owner,
            signer: key.signer,
            metadataCommitment: machine.metadataCommitment,
            registeredAt: machine.registeredAt,
            signerSince: key.signerSince,
            revokedAt: key.revokedAt,
            status: key.status
        });
    }

    /// @inheritdoc IMachineRegistry
    function statusOf(bytes32 machineId) external view returns (MachineStatus) {
        return _machines[machineId].key.status;
    }

    /// @inheritdoc IMachineRegistry
    function keyValidity(bytes32 machineId, address signer)
        external
        view
        returns (uint40 validFrom, uint40 validUntil)
    {
        KeyState memory key = _existingMachine(machineId).key;
        if (signer == key.signer) {
            validFrom = key.signerSince;
            validUntil = key.status == MachineStatus.Revoked ? key.revokedAt : type(uint40).max;
        } else {
            // A retired key's window ends at a rotation, which cannot come after the revocation, so revocation
            // never shortens it.
            RetiredKey memory retiredKey = _retiredKeys[machineId][signer];
            (validFrom, validUntil) = (retiredKey.validFrom, retiredKey.validUntil);
        }
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IMachineRegistry).interfaceId || super.supportsInterface(interfaceId);
    }

    // --------------------------------------------------------------- internal

    /// @dev The fields of a machine's hot slot (KeyState) from one SLOAD, unpacked on the stack. isValidSigner runs
    /// for every usage report, and copying the slot into a memory KeyState instead costs it some hundred gas.
    function _keyState(bytes32 machineId)
        private
        view
        returns (address signer, uint40 signerSince, uint40 revokedAt, MachineStatus status)
    {
        KeyState storage key = _machines[machineId].key;
        uint256 word;
        // Safe: reads the one slot `key` occupies (KeyState is 248 bits, so the struct is exactly that slot).
        assembly ("memory-safe") {
            word := sload(key.slot)
        }
        // Solidity packs struct members from the least significant bit in declaration order:
        // signer [0, 160) · signerSince [160, 200) · revokedAt [200, 240) · status [240, 248).
        signer = address(uint160(word));
        signerSince = uint40(word >> _SIGNER_SINCE_SHIFT);
        revokedAt = uint40(word >> _REVOKED_AT_SHIFT);
        status = MachineStatus(uint8(word >> _STATUS_SHIFT));
    }

    /// @dev Tells every key listener that `machineId`'s key changed. A listener's revert (or running out of gas)
    /// reverts the whole change: a listener left unaware would keep trusting the old key. Bounded by
    /// MAX_KEY_LISTENERS; listeners are contracts the admin vetted (addKeyListener).
    function _notifyKeyListeners(bytes32 machineId, address previousSigner, address newSigner) private {
        uint256 count = _keyListeners.length;
        for (uint256 i; i < count; ++i) {
            IMachineKeyListener(_keyListeners[i]).onMachineKeyChanged(machineId, previousSigner, newSigner);
        }
    }

    /// @dev The record of a registered machine; reverts for an unknown id.
    function _existingMachine(bytes32 machineId) private view returns (MachineRecord storage machine) {
        machine = _machines[machineId];
        if (machine.key.status == MachineStatus.Unregistered) revert MachineRegistryUnknownMachine(machineId);
    }

    /// @dev The record of a registered, unrevoked machine the caller may change (its owner or a registrar).
    function _changeableMachine(bytes32 machineId) private view returns (MachineRecord storage machine) {
        machine = _existingMachine(machineId);
        if (msg.sender != machine.owner && !hasRole(REGISTRAR_ROLE, msg.sender)) {
            revert MachineRegistryUnauthorized(machineId, msg.sender);
        }
        if (machine.key.status == MachineStatus.Revoked) {
            revert MachineRegistryMachineRevoked(machineId, machine.key.revokedAt);
        }
    }

    /// @dev Checks a P-256 public key, records it under its key id (the first time) and the evidence hash for this
    /// machine's use of it; returns the key id. Registration and rotation run their own checks (caller, status,
    /// key reuse) after this: if they revert, so does the record.
    function _recordP256Key(bytes32 machineId, bytes32 qx, bytes32 qy, bytes32 evidenceHash)
        private
        returns (address keyId)
    {
        if (!P256.isValidPublicKey(qx, qy)) revert MachineRegistryInvalidP256Key(machineId, qx, qy);
        keyId = P256KeyLib.keyId(qx, qy);
        P256Key storage key = _p256Keys[keyId];
        if (key.qx == 0 && key.qy == 0) {
            key.qx = qx;
            key.qy = qy;
        }
        // A machine never takes back a key it used (MachineRegistryKeyReused), so this is written once per machine.
        _evidenceHashes[machineId][keyId] = evidenceHash;
    }

    /// @dev The block timestamp as stored; uint40 seconds last until the year 36812.
    function _now() private view returns (uint40) {
        return SafeCast.toUint40(block.timestamp);
    }
}
