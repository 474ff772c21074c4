// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IMachineRegistry
/// @notice Identity of machines on the ledger: who owns each machine, which key signs its counters and when,
/// and a commitment to its metadata (model, serial, rated capacity), which stays off-chain.
/// @dev Lifecycle: Unregistered -> Active -> Revoked (terminal). A key is valid for a half-open window of
/// report timestamps [validFrom, validUntil): from the block timestamp it was set until the block timestamp of
/// the rotation that replaced it, and never at or after the machine's revocation. The registry answers "was
/// this the machine's key at time t"; freshness and replay protection belong to the caller.
///
/// Two key types: a secp256k1 key stands as its Ethereum address; a P-256 (secp256r1) key — what TPMs and secure
/// elements hold — as its key id, P256KeyLib.keyId(qx, qy), with its public key and a hash of its hardware
/// attestation evidence recorded by registerP256 / rotateKeyP256 (p256KeyOf). Everything that takes or returns a
/// `signer` (windows, signerOf, keyValidity, key listeners) works on that address for both types.
interface IMachineRegistry {
    /// @notice Lifecycle state of a machine id.
    enum MachineStatus {
        Unregistered,
        Active,
        Revoked
    }

    /// @notice A machine's full record, as returned by getMachine.
    /// @param owner Account of the owning organisation; receives control of the record.
    /// @param signer Current device signing key.
    /// @param metadataCommitment Salted hash committing to the machine's off-chain metadata.
    /// @param registeredAt Block timestamp of registration.
    /// @param signerSince Block timestamp from which the current key is valid.
    /// @param revokedAt Block timestamp of revocation; 0 while the machine is not revoked.
    /// @param status Lifecycle state.
    struct Machine {
        address owner;
        address signer;
        bytes32 metadataCommitment;
        uint40 registeredAt;
        uint40 signerSince;
        uint40 revokedAt;
        MachineStatus status;
    }

    /// @notice Type of a machine's signing key.
    enum KeyType {
        Secp256k1, // the key stands as its Ethereum address
        P256 // the key stands as P256KeyLib.keyId(qx, qy); p256KeyOf gives the public key
    }

    /// @notice Emitted by registerP256 and rotateKeyP256, after MachineRegistered or MachineKeyRotated (whose
    /// signer is `keyId`).
    /// @param machineId The machine.
    /// @param keyId The key's id: P256KeyLib.keyId(qx, qy).
    /// @param qx Public key x.
    /// @param qy Public key y.
    /// @param evidenceHash Hash of the hardware attestation evidence that the key lives in a TPM or secure element
    /// (keccak256 of the evidence bundle, docs/tpm.md); zero when none was given.
    event MachineP256KeySet(
        bytes32 indexed machineId, address indexed keyId, bytes32 qx, bytes32 qy, bytes32 evidenceHash
    );

    /// @notice Emitted when a machine is registered.
    /// @param machineId The machine.
    /// @param owner Its owning organisation.
    /// @param signer Its first signing key, valid from this block's timestamp.
    /// @param metadataCommitment Commitment to its metadata.
    event MachineRegistered(
        bytes32 indexed machineId, address indexed owner, address indexed signer, bytes32 metadataCommitment
    );

    /// @notice Emitted when a machine's metadata commitment is replaced.
    /// @param machineId The machine.
    /// @param previousCommitment The commitment before the update.
    /// @param newCommitment The commitment after the update.
    event MachineMetadataUpdated(bytes32 indexed machineId, bytes32 previousCommitment, bytes32 newCommitment);

    /// @notice Emitted when a machine changes owner.
    /// @param machineId The machine.
    /// @param previousOwner The owner before the transfer.
    /// @param newOwner The owner after the transfer.
    event MachineOwnershipTransferred(
        bytes32 indexed machineId, address indexed previousOwner, address indexed newOwner
    );

    /// @notice Emitted when a machine's signing key is rotated.
    /// @param machineId The machine.
    /// @param previousSigner The replaced key, now valid only for timestamps before `rotatedAt`.
    /// @param newSigner The new key, valid for timestamps at or after `rotatedAt`.
    /// @param rotatedAt Block timestamp of the rotation: the boundary between the two keys.
    event MachineKeyRotated(
        bytes32 indexed machineId, address indexed previousSigner, address indexed newSigner, uint40 rotatedAt
    );

    /// @notice Emitted when a machine is revoked.
    /// @param machineId The machine.
    /// @param revokedAt Block timestamp of revocation: no key of the machine is valid at or after it.
    event MachineRevoked(bytes32 indexed machineId, uint40 revokedAt);

    /// @notice Emitted when the admin adds a key listener.
    /// @param listener The contract told of every key rotation and revocation from now on.
    event KeyListenerAdded(address indexed listener);

    /// @notice Thrown when a machine id has never been registered.
    /// @param machineId The unknown machine id.
    error MachineRegistryUnknownMachine(bytes32 machineId);

    /// @notice Thrown when registering a machine id that is already taken (active or revoked).
    /// @param machineId The taken machine id.
    error MachineRegistryAlreadyRegistered(bytes32 machineId);

    /// @notice Thrown when changing a machine that has been revoked; revoked records are frozen.
    /// @param machineId The revoked machine.
    /// @param revokedAt Block timestamp at which it was revoked.
    error MachineRegistryMachineRevoked(bytes32 machineId, uint40 revokedAt);

    /// @notice Thrown when the caller is neither the machine's owner nor a holder of REGISTRAR_ROLE
    /// (for register: when the caller is neither the proposed owner nor a registrar).
    /// @param machineId The machine the caller tried to change.
    /// @param caller The refused caller.
    error MachineRegistryUnauthorized(bytes32 machineId, address caller);

    /// @notice Thrown when registering the zero machine id.
    error MachineRegistryZeroMachineId();

    /// @notice Thrown when a machine's owner would be the zero address.
    /// @param machineId The machine.
    error MachineRegistryZeroOwner(bytes32 machineId);

    /// @notice Thrown when a machine's signing key would be the zero address.
    /// @param machineId The machine.
    error MachineRegistryZeroSigner(bytes32 machineId);

    /// @notice Thrown when rotating to a key the machine uses now or has used before.
    /// @param machineId The machine.
    /// @param signer The reused key.
    error MachineRegistryKeyReused(bytes32 machineId, address signer);

    /// @notice Thrown when adding a key listener that is one already.
    /// @param listener The listener.
    error MachineRegistryListenerExists(address listener);

    /// @notice Thrown when adding a key listener beyond MAX_KEY_LISTENERS.
    /// @param max The most listeners the registry calls.
    error MachineRegistryTooManyListeners(uint256 max);

    /// @notice Thrown when adding a key listener that does not declare IMachineKeyListener (ERC-165).
    /// @param listener The refused address.
    error MachineRegistryInvalidListener(address listener);

    /// @notice Thrown when a P-256 public key is not a point of the curve (or is the point at infinity).
    /// @param machineId The machine.
    /// @param qx Public key x.
    /// @param qy Public key y.
    error MachineRegistryInvalidP256Key(bytes32 machineId, bytes32 qx, bytes32 qy);

    /// @notice Most key listeners: every rotation and revocation calls each of them.
    function MAX_KEY_LISTENERS() external view returns (uint256);

    /// @notice Role that may register machines for any owner and change any machine.
    function REGISTRAR_ROLE() external view returns (bytes32);

    /// @notice Registers a machine with its owner, first signing key and metadata commitment.
    /// @dev Anyone may register a machine they own (`owner == msg.sender`); a registrar may register for any
    /// owner. The key is valid from this block's timestamp. Machine ids are never reused, even once revoked.
    /// @param machineId Unique, non-zero machine id.
    /// @param owner Owning organisation's account.
    /// @param signer Device signing key.
    /// @param metadataCommitment Commitment to the machine's off-chain metadata.
    function register(bytes32 machineId, address owner, address signer, bytes32 metadataCommitment) external;

    /// @notice As register, with a P-256 signing key: the machine's signer is P256KeyLib.keyId(qx, qy). Also emits
    /// MachineP256KeySet.
    /// @dev The point must be on the curve. The evidence hash is recorded for this machine and key
    /// (evidenceHashOf): another machine registered with the same public key cannot change it.
    /// @param machineId Unique, non-zero machine id.
    /// @param owner Owning organisation's account.
    /// @param qx Public key x.
    /// @param qy Public key y.
    /// @param evidenceHash Hash of the key's hardware attestation evidence; zero for none.
    /// @param metadataCommitment Commitment to the machine's off-chain metadata.
    function registerP256(
        bytes32 machineId,
        address owner,
        bytes32 qx,
        bytes32 qy,
        bytes32 evidenceHash,
        bytes32 metadataCommitment
    ) external;

    /// @notice As rotateKey, to a P-256 key: the new signer is P256KeyLib.keyId(qx, qy). Also emits
    /// MachineP256KeySet. The old key may be of either type; the cut-off is the same.
    /// @param machineId The machine.
    /// @param qx Public key x.
    /// @param qy Public key y.
    /// @param evidenceHash Hash of the key's hardware attestation evidence; zero for none.
    function rotateKeyP256(bytes32 machineId, bytes32 qx, bytes32 qy, bytes32 evidenceHash) external;

    /// @notice The key id a P-256 public key stands as: P256KeyLib.keyId(qx, qy).
    /// @param qx Public key x.
    /// @param qy Public key y.
    function p256KeyId(bytes32 qx, bytes32 qy) external pure returns (address);

    /// @notice The P-256 public key behind a key id; zero for a secp256k1 key or an unknown id.
    /// @param keyId The key id (a machine's signer).
    /// @return qx Public key x.
    /// @return qy Public key y.
    function p256KeyOf(address keyId) external view returns (bytes32 qx, bytes32 qy);

    /// @notice The hash of the attestation evidence given when `machineId` registered or rotated to the P-256 key
    /// `keyId`; zero if none (or for a secp256k1 key).
    /// @param machineId The machine.
    /// @param keyId The key id.
    function evidenceHashOf(bytes32 machineId, address keyId) external view returns (bytes32);

    /// @notice The type of a signer: P256 if registerP256 or rotateKeyP256 ever recorded it, else Secp256k1.
    /// @param signer The signer (an address or a P-256 key id).
    function keyTypeOf(address signer) external view returns (KeyType);

    /// @notice Replaces a machine's metadata commitment. Owner or registrar; not once revoked.
    /// @param machineId The machine.
    /// @param metadataCommitment The new commitment.
    function updateMetadata(bytes32 machineId, bytes32 metadataCommitment) external;

    /// @notice Transfers a machine to a new owner. Owner or registrar; not once revoked.
    /// @param machineId The machine.
    /// @param newOwner The new owner; not the zero address.
    function transferOwnership(bytes32 machineId, address newOwner) external;

    /// @notice Rotates a machine's signing key at this block's timestamp. Owner or registrar; not once revoked.
    /// @dev The old key stays valid for timestamps before the rotation, the new key for timestamps at or after
    /// it. Refuses the zero address and any key the machine uses now or has ever used.
    /// @param machineId The machine.
    /// @param newSigner The new signing key.
    function rotateKey(bytes32 machineId, address newSigner) external;

    /// @notice Revokes a machine at this block's timestamp: nothing any of its keys signed is valid at or after
    /// it. Owner or registrar. Terminal.
    /// @param machineId The machine.
    function revoke(bytes32 machineId) external;

    /// @notice Adds a contract that rotateKey and revoke call (IMachineKeyListener.onMachineKeyChanged) in the same
    /// transaction. DEFAULT_ADMIN_ROLE only.
    /// @dev A listener is never removed: one that caches a machine's key (EquipmentLease) would go on trusting a
    /// key rotated or revoked after it stopped hearing of it. A listener's revert undoes the rotation or
    /// revocation rather than leaving it with a stale key; the listener must declare IMachineKeyListener through
    /// ERC-165, at most MAX_KEY_LISTENERS are called.
    /// @param listener The contract to tell.
    function addKeyListener(address listener) external;

    /// @notice Whether `account` is told of every key rotation and revocation.
    /// @param account The account.
    /// @return True if added by addKeyListener.
    function isKeyListener(address account) external view returns (bool);

    /// @notice Every key listener, in the order added.
    /// @return The listeners.
    function keyListeners() external view returns (address[] memory);

    /// @notice A machine's current key and lifecycle state, from one storage slot. Never reverts.
    /// @dev The key is the machine's latest, also once it is revoked (then valid for no timestamp from revokedAt
    /// on); the zero address for an unregistered id.
    /// @param machineId The machine.
    /// @return signer Its current key.
    /// @return status Its lifecycle state.
    function signerOf(bytes32 machineId) external view returns (address signer, MachineStatus status);

    /// @notice Owner of a machine (also once revoked).
    /// @dev Reverts with MachineRegistryUnknownMachine for an unregistered id.
    /// @param machineId The machine.
    /// @return The owning organisation's account.
    function ownerOf(bytes32 machineId) external view returns (address);

    /// @notice Whether `signer` was a valid key of the machine for a report timestamped `timestamp`.
    /// @dev Never reverts: false for an unregistered machine, the zero address or a key the machine never
    /// had. For the current key this reads a single storage slot. An unrevoked current key has no upper bound.
    /// @param machineId The machine.
    /// @param signer The key that signed the report.
    /// @param timestamp The report's timestamp, in seconds.
    /// @return True if validFrom <= timestamp < validUntil for `signer`, counting revocation.
    function isValidSigner(bytes32 machineId, address signer, uint256 timestamp) external view returns (bool);

    /// @notice A machine's full record.
    /// @dev Reverts with MachineRegistryUnknownMachine for an unregistered id.
    /// @param machineId The machine.
    /// @return The record.
    function getMachine(bytes32 machineId) external view returns (Machine memory);

    /// @notice Lifecycle state of a machine id; Unregistered for an unknown id. Never reverts.
    /// @param machineId The machine.
    /// @return The state.
    function statusOf(bytes32 machineId) external view returns (MachineStatus);

    /// @notice The window of report timestamps [validFrom, validUntil) for which `signer` is a valid key of the
    /// machine, counting revocation.
    /// @dev validUntil is type(uint40).max while `signer` is the current key of an unrevoked machine, meaning no
    /// upper bound. (0, 0) for a key the machine never had. An empty window (validFrom == validUntil) for a key
    /// replaced or revoked in the same block it was set. Reverts with MachineRegistryUnknownMachine for an
    /// unregistered id.
    /// @param machineId The machine.
    /// @param signer The key.
    /// @return validFrom First valid timestamp.
    /// @return validUntil First timestamp no longer valid.
    function keyValidity(bytes32 machineId, address signer) external view returns (uint40 validFrom, uint40 validUntil);
}
