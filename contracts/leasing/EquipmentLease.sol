// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IEquipmentLease} from "../interfaces/IEquipmentLease.sol";
import {IMachineKeyListener} from "../interfaces/IMachineKeyListener.sol";
import {IMachineRegistry} from "../interfaces/IMachineRegistry.sol";
import {LeaseState, LeaseStateLib} from "../libraries/LeaseStateLib.sol";
import {P256KeyLib} from "../libraries/P256KeyLib.sol";
import {UsageReportLib} from "../libraries/UsageReportLib.sol";

/// @title EquipmentLease
/// @notice Pay-per-use machine leases billed from device-signed cumulative counters. See IEquipmentLease and
/// docs/contracts/equipment-lease.md.
/// @dev Storage is laid out for the per-report path. A report reads and writes exactly one slot of this
/// contract (LeaseState). While a lease runs, that word is stored under (machineId, leaseId, the machine's current
/// key) — see _runningSlot — so the key that recovers from a report's signature finds the lease's word only if it
/// is that key: the signer check costs no storage read of its own, and MachineRegistry, which tells this
/// contract of every rotation and revocation (IMachineKeyListener), is asked only when the word says its key may
/// no longer be valid, for closed leases, and for reports signed by any other key. The prices and the plausible
/// rate come from the lease id itself; the lessor is paid by lowering the escrow only, as the lessor's claim is
/// derived (held - escrow). So a report costs one signature recovery and one cold SLOAD + SSTORE.
/// docs/contracts/equipment-lease.md, "Key check", has the argument.
contract EquipmentLease is
    IEquipmentLease,
    IMachineKeyListener,
    AccessControl,
    Pausable,
    ReentrancyGuardTransient,
    EIP712,
    Multicall
{
    using SafeERC20 for IERC20;

    /// @dev The rest of a lease, grouped by when it is written.
    struct LeaseRecord {
        // slot 0, offer: 160 + 40 + 24 + 24
        address lessor;
        uint40 endsAt;
        uint24 heartbeat;
        uint24 gracePeriod;
        // slot 1, offer
        address token;
        uint96 minBalance;
        // slot 2, offer
        bytes32 machineId;
        // slot 3, open and withdrawals. held = escrow + lessor's earnings not withdrawn: the tokens this
        // contract holds for the lease.
        address lessee;
        uint96 held;
        // slot 4, only while in debt
        uint256 debt;
        // slot 5, consent and close
        uint40 closedAt;
        bool closeConsented;
    }

    /// @dev The one-word LeaseState in a struct, so that a report computes its storage slot once (a storage pointer)
    /// for the read and the write. Same layout as a bare LeaseState.
    struct LeaseStateSlot {
        LeaseState value;
    }

    /// @dev How _settle treats a report: a submission, the lessee accepting it whatever its rate, the lessor
    /// waiving the usage up to it, or the lessor moving the counters to it in either direction.
    enum Mode {
        Submit,
        Accept,
        Waive,
        Reanchor
    }

    /// @inheritdoc IEquipmentLease
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @inheritdoc IEquipmentLease
    uint256 public constant MAX_CLOCK_SKEW = 5 minutes;
    /// @inheritdoc IEquipmentLease
    uint256 public constant ACCEPTANCE_WINDOW = 1 days;
    /// @inheritdoc IEquipmentLease
    bytes32 public constant USAGE_REPORT_TYPEHASH = UsageReportLib.TYPEHASH;

    uint256 private constant _MAX_RATE_SHIFT = 32;
    /// @dev UsageReportLib.TYPEHASH and UsageSettled's topic as literals, which assembly can name
    /// (_settleOnItsKey); the constructor refuses to deploy if either differs from what it stands for.
    bytes32 private constant _USAGE_REPORT_TYPEHASH = 0x220a9d514e49c4b28c908c3e7ed86020fa616205873652b5909d1733823316a5;
    bytes32 private constant _USAGE_SETTLED_TOPIC = 0x760a80ee168876a3c7603e51c3c21310465261166a95ef062a47c75ef89ac06c;
    uint256 private constant _PRICE_PER_HOUR_SHIFT = 64;
    uint256 private constant _PRICE_PER_UNIT_SHIFT = 160;
    /// @dev P256VERIFY (EIP-7951, RIP-7212) and half the P-256 curve order, the largest s accepted (low s).
    address private constant _P256_VERIFY = address(0x100);
    uint256 private constant _P256_HALF_N = 0x7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8;

    IMachineRegistry private immutable _registry;

    /// @dev Sequence number of the next lease id. Starts at 1 (set in the constructor, so the first offer does not
    /// pay for a zero-to-non-zero write), which also keeps every lease id non-zero.
    uint32 private _nextSequence;
    /// @dev The state of a lease that is not running (offered, cancelled, closed, settled). A running lease's is
    /// under _runningSlot, and this one is zero.
    mapping(bytes32 machineId => mapping(uint256 leaseId => LeaseStateSlot)) private _states;
    // Written through storage pointers (offer, _open, _topUp, close, withdrawals), which Slither's
    // uninitialized-state check does not follow here.
    // slither-disable-next-line uninitialized-state
    mapping(uint256 leaseId => LeaseRecord) private _records;
    mapping(bytes32 machineId => uint256 leaseId) private _activeLease;

    /// @param admin Account granted DEFAULT_ADMIN_ROLE and PAUSER_ROLE.
    /// @param machineRegistry Registry of machine owners and signing keys.
    constructor(address admin, IMachineRegistry machineRegistry) EIP712("MillchainEquipmentLease", "1") {
        // (UsageSettled.selector would say it better; Slither cannot read an event's selector.)
        assert(
            _USAGE_REPORT_TYPEHASH == UsageReportLib.TYPEHASH
                && _USAGE_SETTLED_TOPIC == keccak256("UsageSettled(uint256,uint64,uint256,uint256)")
        );
        _registry = machineRegistry;
        _nextSequence = 1;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    // ------------------------------------------------------------ offer, open

    /// @inheritdoc IEquipmentLease
    function offer(bytes32 machineId, LeaseTerms calldata terms) external whenNotPaused returns (uint256 leaseId) {
        return _offer(machineId, terms);
    }

    /// @inheritdoc IEquipmentLease
    function offerTo(bytes32 machineId, LeaseTerms calldata terms, address lessee)
        external
        whenNotPaused
        returns (uint256 leaseId)
    {
        if (lessee == address(0)) revert EquipmentLeaseZeroLessee(machineId);
        leaseId = _offer(machineId, terms);
        // Until open, the lessee field holds the account the offer is reserved for (open checks it).
        _records[leaseId].lessee = lessee;
        emit LeaseReserved(leaseId, lessee);
    }

    /// @dev The checks and effects of offer.
    function _offer(bytes32 machineId, LeaseTerms calldata terms) private returns (uint256 leaseId) {
        address owner = _registry.ownerOf(machineId);
        if (owner != msg.sender) revert EquipmentLeaseNotMachineOwner(machineId, msg.sender, owner);
        // A revoked machine signs no valid report, so a lease of it could never bill. (Its key is not needed yet:
        // open stores the running lease under the key current then.)
        // slither-disable-next-line unused-return
        (, IMachineRegistry.MachineStatus status) = _registry.signerOf(machineId);
        if (status == IMachineRegistry.MachineStatus.Revoked) revert EquipmentLeaseMachineRevoked(machineId);
        // Its running state will trust the machine's key until told otherwise (see _runningSlot). Listeners are
        // never removed, so checking here covers the lease's whole life.
        if (!_registry.isKeyListener(address(this))) revert EquipmentLeaseNotKeyListener(address(_registry));
        if (terms.token.code.length == 0) revert EquipmentLeaseInvalidToken(terms.token);
        if (terms.endsAt <= block.timestamp) revert EquipmentLeaseEndNotInFuture(terms.endsAt, block.timestamp);
        if (terms.maxRatePerHour == 0) revert EquipmentLeaseZeroMaxRate(machineId);
        if (terms.heartbeat == 0) revert EquipmentLeaseZeroHeartbeat(machineId);

        uint32 sequence = _nextSequence++;
        leaseId = uint256(terms.pricePerUnit) << _PRICE_PER_UNIT_SHIFT
            | uint256(terms.pricePerHour) << _PRICE_PER_HOUR_SHIFT | uint256(terms.maxRatePerHour) << _MAX_RATE_SHIFT
            | sequence;
        LeaseRecord storage record = _records[leaseId];
        record.lessor = msg.sender;
        record.endsAt = terms.endsAt;
        record.heartbeat = terms.heartbeat;
        record.gracePeriod = terms.gracePeriod;
        uint96 minBalance = terms.minBalance;
        record.token = terms.token;
        record.minBalance = minBalance;
        record.machineId = machineId;
        // minBalance < 2**96, so its bit length (log2 + 1) fits in 8 bits.
        uint8 minBalanceBits = minBalance == 0 ? 0 : uint8(Math.log2(minBalance) + 1);
        _states[machineId][leaseId].value =
            LeaseStateLib.pack(0, 0, 0, 0, LeaseStatus.Offered, minBalanceBits, false);
        emit LeaseOffered(leaseId, machineId, msg.sender, terms);
    }

    /// @inheritdoc IEquipmentLease
    function cancelOffer(uint256 leaseId) external {
        (LeaseRecord storage record, LeaseState state, LeaseStateSlot storage slot) = _lease(leaseId);
        _requireStatus(leaseId, state, LeaseStatus.Offered);
        _requireLessor(leaseId, record);
        slot.value = state.withStatus(LeaseStatus.Cancelled);
        emit OfferCancelled(leaseId);
    }

    /// @inheritdoc IEquipmentLease
    function open(uint256 leaseId, uint96 deposit) external whenNotPaused nonReentrant {
        IERC20 token = _open(leaseId, deposit);
        token.safeTransferFrom(msg.sender, address(this), deposit);
    }

    /// @inheritdoc IEquipmentLease
    function openWithPermit(uint256 leaseId, uint96 deposit, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        whenNotPaused
        nonReentrant
    {
        IERC20 token = _open(leaseId, deposit);
        _tryPermit(token, deposit, deadline, v, r, s);
        token.safeTransferFrom(msg.sender, address(this), deposit);
    }

    /// @inheritdoc IEquipmentLease
    function topUp(uint256 leaseId, uint96 amount) external nonReentrant {
        IERC20 token = _topUp(leaseId, amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IEquipmentLease
    function topUpWithPermit(uint256 leaseId, uint96 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        IERC20 token = _topUp(leaseId, amount);
        _tryPermit(token, amount, deadline, v, r, s);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    // ------------------------------------------------------------------ usage

    /// @inheritdoc IEquipmentLease
    function submitUsage(SignedUsageReport calldata signed) external whenNotPaused returns (bool settled) {
        if (_settleOnItsKey(signed, _domainSeparatorV4())) return true;
        // slither-disable-next-line uninitialized-local
        UsageReport memory report;
        return _settle(signed, report, true, Mode.Submit);
    }

    /// @inheritdoc IEquipmentLease
    function submitUsageBatch(SignedUsageReport[] calldata reports)
        external
        whenNotPaused
        returns (uint256 settled)
    {
        // One memory buffer for the whole batch: a report that needs one is copied over the previous one.
        // slither-disable-next-line uninitialized-local
        UsageReport memory report;
        return _settleBatch(reports, report);
    }

    /// @inheritdoc IEquipmentLease
    function submitUsageP256(P256SignedUsageReport calldata signed) external whenNotPaused returns (bool settled) {
        // slither-disable-next-line uninitialized-local
        UsageReport memory report;
        return _settleP256(signed, report, true, _domainSeparatorV4());
    }

    /// @inheritdoc IEquipmentLease
    function submitUsageBatchMixed(SignedUsageReport[] calldata reports, P256SignedUsageReport[] calldata p256Reports)
        external
        whenNotPaused
        returns (uint256 settled)
    {
        // slither-disable-next-line uninitialized-local
        UsageReport memory report;
        settled = _settleBatch(reports, report);
        bytes32 domainSeparator = _domainSeparatorV4();
        uint256 count = p256Reports.length;
        for (uint256 i; i < count;) {
            if (_settleP256(p256Reports[i], report, false, domainSeparator)) {
                // Cannot overflow: at most the number of reports.
                unchecked {
                    ++settled;
                }
            }
            // Cannot overflow: i < p256Reports.length.
            unchecked {
                ++i;
            }
        }
    }

    /// @dev The loop of submitUsageBatch: each report skipped or settled. `report` is the batch's memory buffer.
    function _settleBatch(SignedUsageReport[] calldata reports, UsageReport memory report)
        private
        returns (uint256 settled)
    {
        bytes32 domainSeparator = _domainSeparatorV4();
        uint256 count = reports.length;
        for (uint256 i; i < count;) {
            SignedUsageReport calldata signed = reports[i];
            if (_settleOnItsKey(signed, domainSeparator) || _settle(signed, report, false, Mode.Submit)) {
                // Cannot overflow: at most reports.length.
                unchecked {
                    ++settled;
                }
            }
            // Cannot overflow: i < reports.length.
            unchecked {
                ++i;
            }
        }
    }

    /// @inheritdoc IEquipmentLease
    function acceptAnomalousUsage(SignedUsageReport calldata signed) external whenNotPaused {
        uint256 leaseId = signed.report.leaseId;
        // An unopened or unknown lease has no lessee, and msg.sender is never the zero address.
        if (msg.sender != _records[leaseId].lessee) revert EquipmentLeaseNotLessee(leaseId, msg.sender);
        // slither-disable-next-line uninitialized-local
        UsageReport memory report;
        _settle(signed, report, true, Mode.Accept);
    }

    /// @inheritdoc IEquipmentLease
    function waiveAnomalousUsage(SignedUsageReport calldata signed) external whenNotPaused {
        uint256 leaseId = signed.report.leaseId;
        if (msg.sender != _records[leaseId].lessor) revert EquipmentLeaseNotLessor(leaseId, msg.sender);
        // slither-disable-next-line uninitialized-local
        UsageReport memory report;
        _settle(signed, report, true, Mode.Waive);
    }

    /// @inheritdoc IEquipmentLease
    function reanchor(SignedUsageReport calldata signed) external whenNotPaused {
        uint256 leaseId = signed.report.leaseId;
        if (msg.sender != _records[leaseId].lessor) revert EquipmentLeaseNotLessor(leaseId, msg.sender);
        // slither-disable-next-line uninitialized-local
        UsageReport memory report;
        _settle(signed, report, true, Mode.Reanchor);
    }

    /// @inheritdoc IEquipmentLease
    function reanchorP256(P256SignedUsageReport calldata signed) external whenNotPaused {
        uint256 leaseId = signed.report.leaseId;
        if (msg.sender != _records[leaseId].lessor) revert EquipmentLeaseNotLessor(leaseId, msg.sender);
        // slither-disable-next-line uninitialized-local
        UsageReport memory report;
        if (_copyReport(signed.report, report)) revert EquipmentLeaseMalformedReport(leaseId);
        // Zero for a bad signature: no state is stored under it, and _checkSigner names the error.
        address signer = _p256Signer(signed, _domainSeparatorV4());
        LeaseStateSlot storage slot = _runningSlot(report.machineId, leaseId, signer);
        _settleChecked(_offsetOf(signed), true, report, signer, true, Mode.Reanchor, slot, slot.value);
    }

    // -------------------------------------------------------- silence, close

    /// @inheritdoc IEquipmentLease
    function markStale(uint256 leaseId) external {
        (LeaseRecord storage record, LeaseState state,) = _lease(leaseId);
        _requireRunning(leaseId, state);
        _requireLessor(leaseId, record);
        uint40 lastTimestamp = state.lastTimestamp();
        uint24 heartbeat = record.heartbeat;
        uint256 staleAfter = uint256(lastTimestamp) + heartbeat;
        if (block.timestamp <= staleAfter) revert EquipmentLeaseHeartbeatNotMissed(leaseId, staleAfter);
        emit LeaseMarkedStale(leaseId, lastTimestamp, heartbeat);
    }

    /// @inheritdoc IEquipmentLease
    function consentToClose(uint256 leaseId) external {
        (LeaseRecord storage record, LeaseState state,) = _lease(leaseId);
        _requireRunning(leaseId, state);
        _requireLessor(leaseId, record);
        record.closeConsented = true;
        emit EarlyCloseConsented(leaseId);
    }

    /// @inheritdoc IEquipmentLease
    function close(uint256 leaseId) external {
        (LeaseRecord storage record, LeaseState state, LeaseStateSlot storage slot) = _lease(leaseId);
        _requireRunning(leaseId, state);
        address lessee = record.lessee;
        if (msg.sender != lessee && msg.sender != record.lessor) revert EquipmentLeaseNotParty(leaseId, msg.sender);
        uint40 endsAt = record.endsAt;
        bytes32 machineId = record.machineId;
        if (block.timestamp < endsAt && !_mayCloseEarly(record, state, msg.sender == lessee)) {
            revert EquipmentLeaseCloseNotAllowed(leaseId, msg.sender, endsAt);
        }

        // Out of the key's reach: a closed lease's reports all ask the registry, whatever key they are signed with.
        slot.value = LeaseState.wrap(0);
        _states[machineId][leaseId].value = state.withStatus(LeaseStatus.Closed);
        record.closedAt = uint40(block.timestamp);
        delete _activeLease[machineId];
        emit LeaseClosed(leaseId, machineId, msg.sender, block.timestamp + record.gracePeriod);
    }

    /// @dev Whether the caller, a party to a running lease, may close it before endsAt: the lessee with the lessor's
    /// consent or once the machine is revoked (it can bill nothing new, and the deposit must not wait for endsAt);
    /// the lessor once a heartbeat has passed since opening without a report (an offer opened and never used).
    function _mayCloseEarly(LeaseRecord storage record, LeaseState state, bool byLessee) private view returns (bool) {
        if (byLessee) {
            return record.closeConsented
                || _registry.statusOf(record.machineId) == IMachineRegistry.MachineStatus.Revoked;
        }
        // Unanchored, lastTimestamp is the opening block's timestamp.
        return !state.anchored() && block.timestamp > uint256(state.lastTimestamp()) + record.heartbeat;
    }

    // ------------------------------------------------------------ withdrawals

    /// @inheritdoc IEquipmentLease
    function withdrawEarnings(uint256 leaseId) external nonReentrant returns (uint256 amount) {
        (LeaseRecord storage record, LeaseState state,) = _lease(leaseId);
        _requireLessor(leaseId, record);
        uint96 escrow = state.escrow();
        // Cannot underflow: held >= escrow (invariant I2 in the docs).
        unchecked {
            amount = record.held - escrow;
        }
        if (amount == 0) revert EquipmentLeaseNothingToWithdraw(leaseId);
        record.held = escrow;
        emit EarningsWithdrawn(leaseId, msg.sender, amount);
        IERC20(record.token).safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IEquipmentLease
    function withdrawRefund(uint256 leaseId) external nonReentrant returns (uint256 amount) {
        (LeaseRecord storage record, LeaseState state, LeaseStateSlot storage slot) = _lease(leaseId);
        _requireStatus(leaseId, state, LeaseStatus.Closed);
        if (msg.sender != record.lessee) revert EquipmentLeaseNotLessee(leaseId, msg.sender);
        uint256 refundableAfter = uint256(record.closedAt) + record.gracePeriod;
        if (block.timestamp <= refundableAfter) revert EquipmentLeaseGracePeriodActive(leaseId, refundableAfter);

        uint96 escrow = state.escrow();
        slot.value = state.withEscrow(0).withStatus(LeaseStatus.Settled);
        record.held -= escrow;
        emit RefundWithdrawn(leaseId, msg.sender, escrow);
        if (escrow != 0) IERC20(record.token).safeTransfer(msg.sender, escrow);
        return escrow;
    }

    // ------------------------------------------------------------------- keys

    /// @inheritdoc IMachineKeyListener
    /// @dev Moves the machine's running lease, if any, under the new key and marks it keyUnconfirmed: a report
    /// signed by the old key no longer finds it, one signed by the new key asks the registry until one settles
    /// (the new key is valid only from now). On a revocation the lease stays under its key, marked. Constant work
    /// and no revert for any machine, so it cannot hold up a rotation or revocation; not paused with the contract.
    function onMachineKeyChanged(bytes32 machineId, address previousSigner, address newSigner) external {
        if (msg.sender != address(_registry)) revert EquipmentLeaseNotRegistry(msg.sender);
        uint256 leaseId = _activeLease[machineId];
        if (leaseId == 0) return;
        LeaseStateSlot storage slot = _runningSlot(machineId, leaseId, previousSigner);
        LeaseState state = slot.value;
        // Cannot happen (a running lease is under its machine's current key); kept so that nothing here reverts.
        if (LeaseState.unwrap(state) == 0) return;
        state = state.withKeyUnconfirmed(true);
        if (newSigner != previousSigner) {
            slot.value = LeaseState.wrap(0);
            slot = _runningSlot(machineId, leaseId, newSigner);
        }
        slot.value = state;
    }

    // ------------------------------------------------------------------ admin

    /// @inheritdoc IEquipmentLease
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IEquipmentLease
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IEquipmentLease
    function registry() external view returns (IMachineRegistry) {
        return _registry;
    }

    /// @inheritdoc IEquipmentLease
    function getLease(uint256 leaseId) external view returns (Lease memory lease) {
        (LeaseRecord storage record, LeaseState state,) = _lease(leaseId);
        lease.machineId = record.machineId;
        lease.lessor = record.lessor;
        lease.lessee = record.lessee;
        lease.terms = LeaseTerms({
            token: record.token,
            pricePerUnit: uint96(leaseId >> _PRICE_PER_UNIT_SHIFT),
            pricePerHour: uint96(leaseId >> _PRICE_PER_HOUR_SHIFT),
            minBalance: record.minBalance,
            maxRatePerHour: uint32(leaseId >> _MAX_RATE_SHIFT),
            endsAt: record.endsAt,
            heartbeat: record.heartbeat,
            gracePeriod: record.gracePeriod
        });
        lease.status = state.status();
        lease.anchored = state.anchored();
        lease.closeConsented = record.closeConsented;
        lease.lastCounter = state.lastCounter();
        lease.lastRuntimeSeconds = state.lastRuntime();
        lease.lastTimestamp = state.lastTimestamp();
        lease.closedAt = record.closedAt;
        lease.escrow = state.escrow();
        lease.earnings = record.held - state.escrow();
        lease.debt = record.debt;
    }

    /// @inheritdoc IEquipmentLease
    function activeLeaseOf(bytes32 machineId) external view returns (uint256) {
        return _activeLease[machineId];
    }

    /// @inheritdoc IEquipmentLease
    function usageReportDigest(UsageReport calldata report) external view returns (bytes32) {
        return _hashTypedDataV4(UsageReportLib.hash(report));
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IEquipmentLease).interfaceId || interfaceId == type(IMachineKeyListener).interfaceId
            || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------- internal: usage

    /// @dev Copies `signed.report` into `report`: every later read is a plain MLOAD instead of a validated calldata
    /// read, which matters at a hundred reports per batch. Returns whether a member has bits set above its type (the
    /// ABI decoder would revert; this skips the report instead), and then leaves each member cut to its type, so
    /// that the skip event can name it.
    function _copyReport(UsageReport calldata signed, UsageReport memory report)
        private
        pure
        returns (bool malformed)
    {
        // Safe: UsageReport is five static 32-byte words, laid out alike in calldata (at the start of `signed`,
        // whose bounds the ABI decoder checked on entry) and in memory (`report`, an allocated struct), so one copy
        // moves them all; the three narrow members are then masked in place.
        assembly ("memory-safe") {
            calldatacopy(report, signed, 0xa0)
            let counter := mload(add(report, 0x40))
            let runtime := mload(add(report, 0x60))
            let time := mload(add(report, 0x80))
            malformed := iszero(iszero(or(or(shr(64, counter), shr(32, runtime)), shr(40, time))))
            if malformed {
                mstore(add(report, 0x40), and(counter, 0xffffffffffffffff))
                mstore(add(report, 0x60), and(runtime, 0xffffffff))
                mstore(add(report, 0x80), and(time, 0xffffffffff))
            }
        }
    }

    /// @dev A report's time as the lease stores it: its timestamp, clamped to the block's, so that a device clock
    /// running ahead (up to MAX_CLOCK_SKEW) can neither date the lease past the chain nor claim time not yet passed.
    function _clampedTime(UsageReport memory report) private view returns (uint40) {
        uint40 timestamp = report.timestamp;
        // Cannot truncate: taken only when the block timestamp is below a uint40.
        return timestamp > block.timestamp ? uint40(block.timestamp) : timestamp;
    }

    /// @dev Checks and settles one report. A refused report reverts with its custom error when `strict`, and is
    /// skipped with UsageReportSkipped otherwise. Returns whether the report settled (false: skipped or anomaly).
    /// `report` is memory to copy `signed.report` into. The reference path, for every report _settleOnItsKey does
    /// not settle.
    function _settle(SignedUsageReport calldata signed, UsageReport memory report, bool strict, Mode mode)
        private
        returns (bool)
    {
        if (_copyReport(signed.report, report)) {
            if (strict) revert EquipmentLeaseMalformedReport(report.leaseId);
            return _skip(report, SkipReason.MalformedReport);
        }
        bytes32 digest = _hashTypedDataV4(UsageReportLib.hash(signed.report));
        // A malformed or high-s signature recovers the zero address (and an error, which that implies), and no
        // state is ever stored under the zero address. A signature over another chain's or contract's domain
        // recovers some other address.
        // slither-disable-next-line unused-return
        (address signer,,) = ECDSA.tryRecover(digest, signed.r, signed.vs);
        LeaseStateSlot storage slot = _runningSlot(report.machineId, report.leaseId, signer);
        return _settleChecked(_offsetOf(signed), false, report, signer, strict, mode, slot, slot.value);
    }

    /// @dev _settle for a P-256-signed report (submissions only): the key id of (qx, qy) if the signature verifies
    /// (else zero: InvalidSignature) stands where a secp256k1 report has its recovered address. A report by the
    /// confirmed key of a running lease settles through _settleFast like a secp256k1 one; anything else through
    /// _settleChecked, without verifying twice.
    function _settleP256(
        P256SignedUsageReport calldata signed,
        UsageReport memory report,
        bool strict,
        bytes32 domainSeparator
    ) private returns (bool) {
        address signer = _p256Signer(signed, domainSeparator);
        LeaseStateSlot storage slot = _runningSlot(signed.report.machineId, signed.report.leaseId, signer);
        uint256 signedAt = _offsetOf(signed);
        if (signer != address(0)) {
            uint256 slotRef;
            // Safe: reads a storage pointer's slot.
            assembly ("memory-safe") {
                slotRef := slot.slot
            }
            if (_settleFast(slotRef, signedAt)) return true;
        }
        if (_copyReport(signed.report, report)) {
            if (strict) revert EquipmentLeaseMalformedReport(report.leaseId);
            return _skip(report, SkipReason.MalformedReport);
        }
        return _settleChecked(signedAt, true, report, signer, strict, Mode.Submit, slot, slot.value);
    }

    /// @dev The key id of a P-256-signed report's key if its signature verifies: P256VERIFY of sha256(the EIP-712
    /// digest) with low s; else zero. `domainSeparator` is _domainSeparatorV4().
    function _p256Signer(P256SignedUsageReport calldata signed, bytes32 domainSeparator)
        private
        view
        returns (address signer)
    {
        bytes32 s = signed.s;
        if (uint256(s) > _P256_HALF_N) return address(0);
        bytes32 typehash = _USAGE_REPORT_TYPEHASH;
        bytes32 h;
        // Safe: scratch use of free memory without moving the free memory pointer; the report's words are copied
        // from a calldata struct the ABI decoder checked (dirty words give another digest: no valid signature).
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            // UsageReportLib.hash, then MessageHashUtils.toTypedDataHash, then the SHA-256 precompile.
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), signed, 0xa0)
            let structHash := keccak256(ptr, 0xc0)
            mstore(ptr, shl(240, 0x1901))
            mstore(add(ptr, 0x02), domainSeparator)
            mstore(add(ptr, 0x22), structHash)
            mstore(ptr, keccak256(ptr, 0x42))
            // (Yul evaluates arguments right to left: the call first, on its own.)
            let success := staticcall(gas(), 0x02, ptr, 0x20, ptr, 0x20)
            h := mul(success, mload(ptr))
        }
        bytes32 qx = signed.qx;
        bytes32 qy = signed.qy;
        if (_p256Verify(h, signed.r, s, qx, qy)) signer = P256KeyLib.keyId(qx, qy);
    }

    /// @dev Whether (r, s) is a P-256 signature of `h` by (qx, qy), per the P256VERIFY precompile: its output is the
    /// word 1 for a valid signature and empty otherwise (also for r or s out of [1, n) and a key off the curve,
    /// which it checks). The low-s rule is _p256Signer's, its only caller. On a chain without the precompile the
    /// call succeeds with no output: every P-256 signature is invalid (fail-safe: such reports are skipped, never
    /// billed). The deployment tooling refuses such a chain (millchain.deployments.require_p256verify); this
    /// contract itself does not, so that it stays deployable for secp256k1 machines alone.
    function _p256Verify(bytes32 h, bytes32 r, bytes32 s, bytes32 qx, bytes32 qy) private view returns (bool valid) {
        address precompile = _P256_VERIFY;
        // Safe: scratch use of free memory for the 160-byte input without moving the free memory pointer, and of
        // the scratch word at 0 for the output (cleared first: a failure returns nothing).
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, h)
            mstore(add(ptr, 0x20), r)
            mstore(add(ptr, 0x40), s)
            mstore(add(ptr, 0x60), qx)
            mstore(add(ptr, 0x80), qy)
            mstore(0x00, 0)
            // (Yul evaluates arguments right to left: the call must come first, on its own.)
            let success := staticcall(gas(), precompile, ptr, 0xa0, 0x00, 0x20)
            valid := and(success, eq(mload(0x00), 1))
        }
    }

    /// @dev The calldata offset of a signed report, which _settleChecked passes on to the anomaly event.
    function _offsetOf(SignedUsageReport calldata signed) private pure returns (uint256 at) {
        // Safe: reads the offset of a calldata variable.
        assembly ("memory-safe") {
            at := signed
        }
    }

    /// @dev As _offsetOf, for a P-256-signed report.
    function _offsetOf(P256SignedUsageReport calldata signed) private pure returns (uint256 at) {
        // Safe: reads the offset of a calldata variable.
        assembly ("memory-safe") {
            at := signed
        }
    }

    /// @dev The common case, the whole of a steady batch, in one pass and no storage read but the lease's word: a
    /// submission with a well-formed signature by the key a running, anchored lease is stored under, that key
    /// confirmed (then valid for every report newer than the last settled one: the key check in the docs), the
    /// report passing every check, plausible, billed within the escrow and not leaving the escrow near minBalance.
    /// Settles it and returns true; returns false, having changed nothing, for anything else, which _settle then
    /// handles in full. _settle is the reference: this settles exactly as it would, checks and effects fused.
    /// `domainSeparator` is _domainSeparatorV4(), computed once per transaction.
    ///
    /// The signature is recovered with the ecrecover precompile called as OpenZeppelin's ECDSA.tryRecover calls it,
    /// with the same refusal of a high s (malleability) and of a zero result; a refused signature falls to
    /// _settle, which goes through ECDSA itself and names the error.
    function _settleOnItsKey(SignedUsageReport calldata signed, bytes32 domainSeparator) private returns (bool) {
        // Safe: scratch use of free memory without moving the free memory pointer (the hashes' preimages, the
        // precompile's input, the event's data), and of the scratch word at 0 for the precompile's output; the
        // report's and the signature's words are read from calldata, whose bounds the ABI decoder checked on
        // entry, and a report member with bits set above its type reverts without data, as in the decoder.
        //
        // Cannot overflow: every operand is a uint of at most 96 bits (the lease id's parts, the state's fields,
        // the report's members, the block timestamp) and no product or sum exceeds 2**161. Underflows wrap in
        // assembly, and each difference is used only once the comparison that orders it passed (timestamp >
        // lastTimestamp, counter >= lastCounter, runtime >= lastRuntime, amount <= escrow; floor(x * price / 3600)
        // is monotonic in x).
        // slither-disable-next-line uninitialized-local
        uint256 slotRef;
        // slither-disable-next-line uninitialized-local
        uint256 reportAt;
        assembly ("memory-safe") {
            {
                let ptr := mload(0x40)
                // UsageReportLib.hash, then MessageHashUtils.toTypedDataHash.
                mstore(ptr, _USAGE_REPORT_TYPEHASH)
                calldatacopy(add(ptr, 0x20), signed, 0xa0)
                let structHash := keccak256(ptr, 0xc0)
                mstore(ptr, shl(240, 0x1901))
                mstore(add(ptr, 0x02), domainSeparator)
                mstore(add(ptr, 0x22), structHash)
                let digest := keccak256(ptr, 0x42)
                // EIP-2098: vs is s with v's parity in its top bit.
                let vs := calldataload(add(signed, 0xc0))
                let sValue := shr(1, shl(1, vs))
                if iszero(gt(sValue, 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0)) {
                    mstore(ptr, digest)
                    mstore(add(ptr, 0x20), add(shr(255, vs), 27))
                    mstore(add(ptr, 0x40), calldataload(add(signed, 0xa0)))
                    mstore(add(ptr, 0x60), sValue)
                    // The precompile returns nothing for a signature it cannot recover: the zero stays.
                    mstore(0x00, 0)
                    pop(staticcall(gas(), 0x01, ptr, 0x80, 0x00, 0x20))
                    let signer := mload(0x00)
                    if signer {
                        // _runningSlot(machineId, leaseId, signer).
                        mstore(ptr, calldataload(add(signed, 0x20)))
                        mstore(add(ptr, 0x20), calldataload(signed))
                        mstore(add(ptr, 0x40), signer)
                        slotRef := keccak256(ptr, 0x60)
                    }
                }
            }
            reportAt := signed
        }
        return slotRef != 0 && _settleFast(slotRef, reportAt);
    }

    /// @dev The part of _settleOnItsKey after the signer check, for any key type: the report's five words at calldata
    /// offset `signed`, the lease's word at storage slot `slotRef` (the running slot under the signer's key).
    /// Settles the report if the word and the report allow it without the reference path; else changes nothing.
    function _settleFast(uint256 slotRef, uint256 signed) private returns (bool settled) {
        // Safe and cannot overflow: as in _settleOnItsKey (the report's words are read from a calldata struct the
        // ABI decoder checked; the event's data goes to free memory without moving the pointer).
        assembly ("memory-safe") {
            let state := sload(slotRef)
            // Active (2) or Suspended (3), anchored (bit 248) and key confirmed (bit 249 clear): LeaseStateLib's
            // settlesOnItsKey and anchored. Zero, for no slot or an empty one, is not.
            if eq(and(shr(232, state), 0x300fe), 0x10002) {
                let counter := calldataload(add(signed, 0x40))
                let runtime := calldataload(add(signed, 0x60))
                let time := calldataload(add(signed, 0x80))
                let leaseId := calldataload(signed)
                let lastRuntime := and(shr(64, state), 0xffffffff)
                let units := sub(counter, and(state, 0xffffffffffffffff))
                let elapsed := sub(time, and(shr(96, state), 0xffffffffff))
                let runtimeDelta := sub(runtime, lastRuntime)
                if iszero(
                    or(
                        // _checkReport for a running lease: clean, not dated after the block (a report dated ahead is
                        // clamped: _settle's), not expired, newer than the last settled report, counter and runtime
                        // not backwards.
                        or(
                            or(
                                // A member with bits above its type leaves the report to _settle, which skips it (or
                                // reverts in submitUsage) with EquipmentLeaseMalformedReport.
                                or(or(shr(64, counter), shr(32, runtime)), shr(40, time)),
                                or(gt(time, timestamp()), lt(add(time, ACCEPTANCE_WINDOW), timestamp()))
                            ),
                            or(
                                iszero(gt(time, and(shr(96, state), 0xffffffffff))),
                                or(lt(counter, and(state, 0xffffffffffffffff)), lt(runtime, lastRuntime))
                            )
                        ),
                        // _isPlausible: units <= maxRatePerHour x elapsed / 3600; runtime delta <= elapsed (the
                        // second of slack is _settle's: a report needing it goes there).
                        or(gt(units, div(mul(and(shr(32, leaseId), 0xffffffff), elapsed), 3600)), gt(runtimeDelta, elapsed))
                    )
                ) {
                    // _bill: units x pricePerUnit + _runtimeCost.
                    let amount := mul(units, shr(160, leaseId))
                    {
                        let pricePerHour := and(shr(64, leaseId), 0xffffffffffffffffffffffff)
                        amount := add(
                            amount, sub(div(mul(runtime, pricePerHour), 3600), div(mul(lastRuntime, pricePerHour), 3600))
                        )
                    }
                    let escrow := and(shr(136, state), 0xffffffffffffffffffffffff)
                    let escrowLeft := sub(escrow, amount)
                    // Within the escrow, and _bill would not call _emitIfBelowMinimum: the escrow is unchanged or
                    // stays at or above 2**minBalanceBits. (The shifted escrow is a word, not a boolean: it is
                    // tested with iszero, never combined by a bitwise and, which would read only its lowest bit.)
                    if iszero(
                        or(gt(amount, escrow), iszero(or(iszero(amount), shr(and(shr(240, state), 0xff), escrowLeft))))
                    ) {
                        // LeaseState.settled: counters, time and escrow replaced; status, minBalanceBits and flags
                        // (bits 232 and up) kept, but runtimeSlack (bit 250) cleared when the runtime fell behind
                        // the time (_nextRuntimeSlack).
                        sstore(
                            slotRef,
                            or(
                                and(shl(232, shr(232, state)), not(shl(250, lt(runtimeDelta, elapsed)))),
                                or(shl(136, escrowLeft), or(shl(96, time), or(shl(64, runtime), counter)))
                            )
                        )
                        let data := mload(0x40)
                        mstore(data, counter)
                        mstore(add(data, 0x20), units)
                        mstore(add(data, 0x40), amount)
                        log2(data, 0x60, _USAGE_SETTLED_TOPIC, leaseId) // UsageSettled(leaseId, counter, units, amount)
                        settled := 1
                    }
                }
            }
        }
    }

    /// @dev Every check, in the order documented on submitUsage, then the settlement: for what _settleOnItsKey
    /// leaves. `slot` and `state` are what is stored under `signer`: a running lease's state if `signer` is its
    /// key, else zero, when the lease is looked up by id. The registry is asked about `signer` unless the state
    /// was found under it with its key confirmed.
    function _settleChecked(
        uint256 signedAt,
        bool p256,
        UsageReport memory report,
        address signer,
        bool strict,
        Mode mode,
        LeaseStateSlot storage slot,
        LeaseState state
    ) private returns (bool) {
        bool keyConfirmed = state.settlesOnItsKey();
        if (LeaseState.unwrap(state) == 0) {
            uint256 leaseId = report.leaseId;
            bytes32 machineId = _records[leaseId].machineId;
            if (machineId == bytes32(0) || machineId != report.machineId) {
                if (strict) _revertUnknown(report);
                return _skip(report, SkipReason.UnknownLease);
            }
            (state, slot) = _stateOf(machineId, leaseId);
        }
        if (!_checkReport(report, state, strict, mode)) return false;
        // A confirmed key is the machine's current key (the key check in the docs).
        bool current = keyConfirmed;
        if (!keyConfirmed) {
            (bool valid, bool openEnded) = _checkSigner(report, signer, strict);
            if (!valid) return false;
            // Only the current key of an unrevoked machine is valid without end, and a running lease is stored
            // under that key: this report, settling, confirms it for every later one (the key check in the docs).
            if (openEnded) state = state.withKeyUnconfirmed(false);
            current = openEnded;
        }
        bool anchoring = !state.anchored();
        // Fixing the counters is for the key that signs the lease's reports from now on: a rotated-out key signing
        // inside its old window, or a revoked machine's, could otherwise set counters no later report can pass.
        if ((anchoring || mode == Mode.Reanchor) && !current) {
            if (strict) revert EquipmentLeaseAnchorNotByCurrentKey(report.leaseId, signer);
            return _skip(report, SkipReason.AnchorNotByCurrentKey);
        }
        if (anchoring) {
            _anchor(slot, report, state);
        } else if (mode == Mode.Submit) {
            (bool plausible, bool slack) = _isPlausible(signedAt, p256, report, state);
            if (!plausible) return false;
            _bill(slot, report, state.withRuntimeSlack(slack));
        } else if (mode == Mode.Accept) {
            _bill(slot, report, state);
            emit AnomalousUsageAccepted(report.leaseId, report.counter);
        } else if (mode == Mode.Waive) {
            _waive(slot, report, state);
        } else {
            _reanchor(slot, report, state);
        }
        return true;
    }

    /// @dev The checks on the lease's state and the report's fields, in the order documented on submitUsage.
    function _checkReport(UsageReport memory report, LeaseState state, bool strict, Mode mode)
        private
        returns (bool)
    {
        LeaseStatus status = state.status();
        if (status != LeaseStatus.Active && status != LeaseStatus.Suspended) {
            if (status == LeaseStatus.None) {
                if (strict) _revertUnknown(report);
                return _skip(report, SkipReason.UnknownLease);
            }
            if (status != LeaseStatus.Closed) {
                if (strict) revert EquipmentLeaseUnexpectedStatus(report.leaseId, status);
                return _skip(report, SkipReason.LeaseNotReporting);
            }
            if (!_checkClosed(report, strict)) return false;
        }
        uint40 timestamp = report.timestamp;
        uint256 latestAccepted;
        uint256 timestampPlusWindow;
        // Cannot overflow: a block timestamp and a uint40 plus a few days.
        unchecked {
            latestAccepted = block.timestamp + MAX_CLOCK_SKEW;
            timestampPlusWindow = uint256(timestamp) + ACCEPTANCE_WINDOW;
        }
        if (timestamp > latestAccepted) {
            if (strict) revert EquipmentLeaseReportFromFuture(report.leaseId, timestamp, latestAccepted);
            return _skip(report, SkipReason.ReportFromFuture);
        }
        // Resolving an anomaly may take longer than the window; the party resolving it concedes against itself. A
        // closed lease's reports are bounded by closedAt and the grace period, however long (close's NatSpec).
        if (mode == Mode.Submit && status != LeaseStatus.Closed && timestampPlusWindow < block.timestamp) {
            if (strict) {
                revert EquipmentLeaseReportExpired(report.leaseId, timestamp, block.timestamp - ACCEPTANCE_WINDOW);
            }
            return _skip(report, SkipReason.ReportExpired);
        }
        if (timestamp <= state.lastTimestamp()) {
            if (strict) revert EquipmentLeaseStaleReport(report.leaseId, timestamp, state.lastTimestamp());
            return _skip(report, SkipReason.StaleReport);
        }
        // Dated after the block: settled at the block's time (_clampedTime), if that is newer than the last report
        // and the report moves the counters. A report that changes nothing could otherwise settle again in every
        // block until its own timestamp, each time moving lastTimestamp on and so shrinking the time a genuine
        // reading's units are judged against.
        if (timestamp > block.timestamp) {
            bool unchanged = state.anchored() && report.counter == state.lastCounter()
                && report.runtimeSeconds == state.lastRuntime();
            if (block.timestamp <= state.lastTimestamp() || unchanged) {
                if (strict) revert EquipmentLeaseReportFromFuture(report.leaseId, timestamp, block.timestamp);
                return _skip(report, SkipReason.ReportFromFuture);
            }
        }
        // A re-anchor may move the counters down: that is what it is for.
        if (state.anchored() && mode != Mode.Reanchor) {
            if (report.counter < state.lastCounter()) {
                if (strict) revert EquipmentLeaseCounterBackwards(report.leaseId, report.counter, state.lastCounter());
                return _skip(report, SkipReason.CounterBackwards);
            }
            if (report.runtimeSeconds < state.lastRuntime()) {
                if (strict) {
                    revert EquipmentLeaseRuntimeBackwards(report.leaseId, report.runtimeSeconds, state.lastRuntime());
                }
                return _skip(report, SkipReason.RuntimeBackwards);
            }
        }
        return true;
    }

    /// @dev For a closed lease: within the grace period, and timestamped no later than the close.
    function _checkClosed(UsageReport memory report, bool strict) private returns (bool) {
        uint256 leaseId = report.leaseId;
        LeaseRecord storage record = _records[leaseId];
        uint40 closedAt = record.closedAt;
        uint256 settleUntil = uint256(closedAt) + record.gracePeriod;
        if (block.timestamp > settleUntil) {
            if (strict) revert EquipmentLeaseGracePeriodOver(leaseId, settleUntil);
            return _skip(report, SkipReason.GracePeriodOver);
        }
        if (report.timestamp > closedAt) {
            if (strict) revert EquipmentLeaseReportAfterClose(leaseId, report.timestamp, closedAt);
            return _skip(report, SkipReason.ReportAfterClose);
        }
        return true;
    }

    /// @dev Asks the registry whether `signer` (zero for a malformed signature) is a valid key of the report's
    /// machine at the report's timestamp, and whether its validity is open-ended (the machine's current key, not
    /// revoked).
    function _checkSigner(UsageReport memory report, address signer, bool strict)
        private
        returns (bool valid, bool openEnded)
    {
        if (signer == address(0)) {
            if (strict) revert EquipmentLeaseInvalidSignature(report.leaseId);
            return (_skip(report, SkipReason.InvalidSignature), false);
        }
        (uint40 validFrom, uint40 validUntil) = _registry.keyValidity(report.machineId, signer);
        openEnded = validUntil == type(uint40).max;
        if (report.timestamp < validFrom || (report.timestamp >= validUntil && !openEnded)) {
            if (strict) revert EquipmentLeaseInvalidSigner(report.leaseId, report.machineId, signer, report.timestamp);
            return (_skip(report, SkipReason.InvalidSigner), false);
        }
        valid = true;
    }

    /// @dev Whether the report's units and runtime are plausible for the time elapsed since the last settled
    /// report (clamped times), and whether the lease's second of runtime slack is in use after it; emits
    /// UsageAnomalyDetected if not plausible. Only for an anchored lease, after _checkReport.
    ///
    /// The slack: runtime and clock are both sampled in whole seconds, so floor(runtime) can gain a second on
    /// floor(time) over an interval, and lose it over the next. Over the whole lease, though, a machine cannot run
    /// longer than the time since the anchor plus one second. So the lease holds one second of slack: a report whose
    /// runtime runs one second ahead of its interval uses it, a report whose runtime falls behind its interval frees
    /// it. With s the flag, e = runtimeDelta - elapsed: plausible iff e <= 1 - s; then s' = max(0, s + e). By
    /// induction s' >= e_j + ... + e_n for every suffix of billed intervals, so the runtime billed since the anchor
    /// exceeds the time billed by at most one second in total.
    function _isPlausible(uint256 signedAt, bool p256, UsageReport memory report, LeaseState state)
        private
        returns (bool plausible, bool slack)
    {
        uint256 units;
        uint256 runtimeDelta;
        uint256 elapsed;
        // Cannot underflow: _checkReport established counter >= lastCounter, runtime >= lastRuntime and
        // clamped time > lastTimestamp.
        unchecked {
            units = report.counter - state.lastCounter();
            runtimeDelta = report.runtimeSeconds - state.lastRuntime();
            elapsed = _clampedTime(report) - state.lastTimestamp();
        }
        slack = state.runtimeSlack();
        uint256 maxUnits;
        uint256 maxRuntimeDelta;
        // Cannot overflow: maxRatePerHour < 2**32 and elapsed < 2**40.
        unchecked {
            maxUnits = uint32(report.leaseId >> _MAX_RATE_SHIFT) * elapsed / 1 hours;
            maxRuntimeDelta = slack ? elapsed : elapsed + 1;
        }
        if (units <= maxUnits && runtimeDelta <= maxRuntimeDelta) {
            // runtimeDelta == elapsed + 1 only with the slack free: it is now in use. Behind the time: free again.
            if (runtimeDelta != elapsed) slack = runtimeDelta > elapsed;
            return (true, slack);
        }
        _emitAnomaly(signedAt, p256, report.leaseId, units, maxUnits, runtimeDelta, maxRuntimeDelta);
        return (false, slack);
    }

    /// @dev UsageAnomalyDetected or P256UsageAnomalyDetected for the signed report at calldata offset `signedAt`.
    function _emitAnomaly(
        uint256 signedAt,
        bool p256,
        uint256 leaseId,
        uint256 units,
        uint256 maxUnits,
        uint256 runtimeDelta,
        uint256 maxRuntimeDelta
    ) private {
        if (p256) {
            P256SignedUsageReport calldata signed;
            // Safe: `signedAt` is the offset of a P256SignedUsageReport the ABI decoder checked (_offsetOf).
            assembly ("memory-safe") {
                signed := signedAt
            }
            emit P256UsageAnomalyDetected(leaseId, signed, units, maxUnits, runtimeDelta, maxRuntimeDelta);
        } else {
            SignedUsageReport calldata signed;
            // Safe: `signedAt` is the offset of a SignedUsageReport the ABI decoder checked (_offsetOf).
            assembly ("memory-safe") {
                signed := signedAt
            }
            emit UsageAnomalyDetected(leaseId, signed, units, maxUnits, runtimeDelta, maxRuntimeDelta);
        }
    }

    /// @dev The first report of a lease fixes its starting counters and bills nothing.
    function _anchor(LeaseStateSlot storage slot, UsageReport memory report, LeaseState state) private {
        slot.value = state.settled(
            report.counter, report.runtimeSeconds, _clampedTime(report), state.escrow(), state.status()
        );
        emit UsageSettled(report.leaseId, report.counter, 0, 0);
    }

    /// @dev Moves the counters to the report's without billing.
    function _waive(LeaseStateSlot storage slot, UsageReport memory report, LeaseState state) private {
        slot.value = state.settled(
            report.counter, report.runtimeSeconds, _clampedTime(report), state.escrow(), state.status()
        );
        // Cannot underflow: _checkReport established counter >= lastCounter.
        unchecked {
            emit UsageWaived(report.leaseId, report.counter, report.counter - state.lastCounter());
        }
    }

    /// @dev Moves the counters to the report's, up or down, without billing. The runtime slack is kept: the time
    /// up to the report is not billed either, so what is billed later still has at most one second of slack.
    function _reanchor(LeaseStateSlot storage slot, UsageReport memory report, LeaseState state) private {
        slot.value = state.settled(
            report.counter, report.runtimeSeconds, _clampedTime(report), state.escrow(), state.status()
        );
        emit UsageReanchored(
            report.leaseId, report.counter, report.runtimeSeconds, state.lastCounter(), state.lastRuntime()
        );
    }

    /// @dev Bills the report: units x pricePerUnit + the runtime part, from the escrow; what the escrow cannot
    /// cover becomes debt and suspends an active lease.
    function _bill(LeaseStateSlot storage slot, UsageReport memory report, LeaseState state) private {
        uint256 leaseId = report.leaseId;
        uint256 units;
        uint256 amount;
        // Cannot overflow or underflow: counter >= lastCounter (_checkReport), units < 2**64 and pricePerUnit
        // < 2**96, so the product is below 2**160 and the runtime part (_runtimeCost) below 2**128.
        unchecked {
            units = report.counter - state.lastCounter();
            amount = units * (leaseId >> _PRICE_PER_UNIT_SHIFT)
                + _runtimeCost(leaseId, report.runtimeSeconds, state.lastRuntime());
        }
        uint256 escrow = state.escrow();
        if (amount > escrow) return _billBeyondEscrow(slot, report, state, units, amount);

        uint256 escrowLeft;
        // Cannot underflow: amount <= escrow.
        unchecked {
            escrowLeft = escrow - amount;
        }
        slot.value =
            state.settled(report.counter, report.runtimeSeconds, _clampedTime(report), escrowLeft, state.status());
        emit UsageSettled(leaseId, report.counter, units, amount);
        if (escrowLeft >> state.minBalanceBits() == 0 && escrowLeft < escrow) {
            _emitIfBelowMinimum(leaseId, escrow, escrowLeft);
        }
    }

    /// @dev The part of _bill when the amount exceeds the escrow: the escrow is billed in full, the rest becomes
    /// debt, an active lease is suspended.
    function _billBeyondEscrow(
        LeaseStateSlot storage slot,
        UsageReport memory report,
        LeaseState state,
        uint256 units,
        uint256 amount
    ) private {
        uint256 leaseId = report.leaseId;
        uint256 escrow = state.escrow();
        LeaseStatus status = state.status();
        LeaseStatus newStatus = status == LeaseStatus.Active ? LeaseStatus.Suspended : status;
        slot.value = state.settled(report.counter, report.runtimeSeconds, _clampedTime(report), 0, newStatus);
        LeaseRecord storage record = _records[leaseId];
        uint256 debt;
        // Cannot underflow: amount > escrow.
        unchecked {
            debt = record.debt + (amount - escrow);
        }
        record.debt = debt;
        emit UsageSettled(leaseId, report.counter, units, amount);
        if (escrow != 0) _emitIfBelowMinimum(leaseId, escrow, 0);
        if (newStatus != status) emit LeaseSuspended(leaseId, debt);
    }

    /// @dev Runtime is priced cumulatively: floor(runtime x pricePerHour / 3600) at the new reading minus the same
    /// at the last one. The sum over any sequence of reports telescopes to the price of the whole runtime,
    /// rounded down once, so no second is lost or billed twice however the reports are spaced.
    function _runtimeCost(uint256 leaseId, uint32 runtime, uint32 lastRuntime) private pure returns (uint256) {
        uint256 pricePerHour = uint96(leaseId >> _PRICE_PER_HOUR_SHIFT);
        // Cannot overflow: runtimes < 2**32 and pricePerHour < 2**96. Cannot underflow: runtime >= lastRuntime
        // (_checkReport), and floor is monotonic.
        unchecked {
            return uint256(runtime) * pricePerHour / 1 hours - uint256(lastRuntime) * pricePerHour / 1 hours;
        }
    }

    /// @dev Emits EscrowFellBelowMinimum if the escrow went from at or above minBalance to below it.
    function _emitIfBelowMinimum(uint256 leaseId, uint256 escrowBefore, uint256 escrowAfter) private {
        uint256 minBalance = _records[leaseId].minBalance;
        if (escrowAfter < minBalance && escrowBefore >= minBalance) {
            emit EscrowFellBelowMinimum(leaseId, escrowAfter, minBalance);
        }
    }

    /// @dev Emits UsageReportSkipped; returns false for the caller to return.
    function _skip(UsageReport memory report, SkipReason reason) private returns (bool) {
        emit UsageReportSkipped(report.leaseId, report.counter, report.timestamp, reason);
        return false;
    }

    /// @dev Reverts for a report whose (machineId, leaseId) has no lease: the id is unknown or of another machine.
    function _revertUnknown(UsageReport memory report) private view {
        uint256 leaseId = report.leaseId;
        bytes32 leasedMachineId = _records[leaseId].machineId;
        if (leasedMachineId == bytes32(0)) revert EquipmentLeaseUnknownLease(leaseId);
        revert EquipmentLeaseWrongMachine(leaseId, report.machineId, leasedMachineId);
    }

    // ------------------------------------------------------- internal: lease

    /// @dev The checks and effects of opening; returns the token to collect the deposit in.
    function _open(uint256 leaseId, uint96 deposit) private returns (IERC20) {
        (LeaseRecord storage record, LeaseState state, LeaseStateSlot storage slot) = _lease(leaseId);
        _requireStatus(leaseId, state, LeaseStatus.Offered);
        bytes32 machineId = record.machineId;
        {
            address designated = record.lessee;
            if (designated != address(0) && designated != msg.sender) {
                revert EquipmentLeaseNotDesignatedLessee(leaseId, msg.sender, designated);
            }
            uint40 endsAt = record.endsAt;
            if (block.timestamp >= endsAt) revert EquipmentLeaseOfferExpired(leaseId, endsAt);
            uint256 activeLeaseId = _activeLease[machineId];
            if (activeLeaseId != 0) revert EquipmentLeaseMachineBusy(machineId, activeLeaseId);
            uint96 minBalance = record.minBalance;
            if (deposit < minBalance) revert EquipmentLeaseDepositBelowMinimum(leaseId, deposit, minBalance);
            address lessor = record.lessor;
            address owner = _registry.ownerOf(machineId);
            if (owner != lessor) revert EquipmentLeaseLessorNoLongerOwner(leaseId, lessor, owner);
        }

        _activeLease[machineId] = leaseId;
        record.lessee = msg.sender;
        record.held = deposit;
        slot.value = LeaseState.wrap(0);
        _startRunning(
            machineId,
            leaseId,
            state.withEscrow(deposit).withStatus(LeaseStatus.Active).withLastTimestamp(uint40(block.timestamp))
        );
        emit LeaseOpened(leaseId, machineId, msg.sender, deposit);
        return IERC20(record.token);
    }

    /// @dev Stores an opened lease's state under its machine's current key, valid since before this block, so for
    /// every report newer than lastTimestamp. A revoked machine is refused: it signs no valid report, and its
    /// lessee's deposit would wait for endsAt.
    function _startRunning(bytes32 machineId, uint256 leaseId, LeaseState state) private {
        (address signer, IMachineRegistry.MachineStatus status) = _registry.signerOf(machineId);
        if (status == IMachineRegistry.MachineStatus.Revoked) revert EquipmentLeaseMachineRevoked(machineId);
        _runningSlot(machineId, leaseId, signer).value = state;
    }

    /// @dev The checks and effects of a top-up; returns the token to collect it in.
    function _topUp(uint256 leaseId, uint96 amount) private returns (IERC20) {
        if (amount == 0) revert EquipmentLeaseZeroAmount(leaseId);
        (LeaseRecord storage record, LeaseState state, LeaseStateSlot storage slot) = _lease(leaseId);
        LeaseStatus status = state.status();
        if (status != LeaseStatus.Active && status != LeaseStatus.Suspended && status != LeaseStatus.Closed) {
            revert EquipmentLeaseUnexpectedStatus(leaseId, status);
        }
        // Zero and false unless the lease was suspended with debt (below).
        // slither-disable-next-line uninitialized-local
        uint256 debtPaid;
        // slither-disable-next-line uninitialized-local
        bool resumed;
        // An active lease has no debt (invariant I4 in the docs); skip reading it.
        if (status != LeaseStatus.Active) {
            uint256 debt = record.debt;
            debtPaid = Math.min(amount, debt);
            if (debtPaid != 0) record.debt = debt - debtPaid;
            resumed = status == LeaseStatus.Suspended && debtPaid == debt;
        }
        // Cannot underflow: debtPaid <= amount. The addition is checked: an escrow beyond 2**96 reverts.
        uint96 escrow = state.escrow() + uint96(amount - debtPaid);
        state = state.withEscrow(escrow);
        if (resumed) state = state.withStatus(LeaseStatus.Active);
        slot.value = state;
        record.held += amount;
        emit EscrowToppedUp(leaseId, msg.sender, amount, debtPaid, escrow);
        if (resumed) emit LeaseResumed(leaseId, escrow);
        return IERC20(record.token);
    }

    /// @dev Tries an ERC-2612 permit from the caller. A failure is ignored: the permit may have been front-run
    /// (its nonce used by someone submitting it first), and the transferFrom that follows reverts anyway if the
    /// allowance does not suffice.
    function _tryPermit(IERC20 token, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s) private {
        try IERC20Permit(address(token)).permit(msg.sender, address(this), value, deadline, v, r, s) {} catch {}
    }

    /// @dev A lease's record, its state and the slot the state is in; reverts for an unknown id, and for a running
    /// lease whose word is between keys: every existing lease's word is non-zero (its status is), so a zero word
    /// means the registry has changed the machine's key and onMachineKeyChanged has not yet moved the word (a call
    /// re-entering from a key listener notified first). Read as zero, the escrow would let withdrawEarnings pay
    /// out the lessee's whole deposit as earnings.
    function _lease(uint256 leaseId)
        private
        view
        returns (LeaseRecord storage record, LeaseState state, LeaseStateSlot storage slot)
    {
        record = _records[leaseId];
        bytes32 machineId = record.machineId;
        if (machineId == bytes32(0)) revert EquipmentLeaseUnknownLease(leaseId);
        (state, slot) = _stateOf(machineId, leaseId);
        if (LeaseState.unwrap(state) == 0) revert EquipmentLeaseKeyChangeInProgress(leaseId);
    }

    /// @dev The state of an existing lease and the slot it is in: _states, or for a running lease (whose word
    /// there is zero) the slot under its machine's current key, where open put it and onMachineKeyChanged keeps it.
    function _stateOf(bytes32 machineId, uint256 leaseId)
        private
        view
        returns (LeaseState state, LeaseStateSlot storage slot)
    {
        slot = _states[machineId][leaseId];
        state = slot.value;
        if (LeaseState.unwrap(state) == 0) {
            // A running lease's machine may be revoked: its word stays under the revoked key, marked.
            // slither-disable-next-line unused-return
            (address signer,) = _registry.signerOf(machineId);
            slot = _runningSlot(machineId, leaseId, signer);
            state = slot.value;
        }
    }

    /// @dev Where a running lease's state is stored when `signer` is its machine's current key:
    /// keccak256(machineId . leaseId . signer). A report computes it from the key its signature recovers, so it
    /// finds the state only if signed by that key. Solidity's own mappings and arrays hash 64- or 32-byte
    /// preimages, so this 96-byte one cannot land on their slots (short of a keccak collision).
    function _runningSlot(bytes32 machineId, uint256 leaseId, address signer)
        private
        pure
        returns (LeaseStateSlot storage slot)
    {
        // Safe: scratch use of free memory without moving the free memory pointer (nothing is allocated before
        // the hash); `signer` is a clean address.
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, machineId)
            mstore(add(ptr, 0x20), leaseId)
            mstore(add(ptr, 0x40), signer)
            slot.slot := keccak256(ptr, 0x60)
        }
    }

    function _requireStatus(uint256 leaseId, LeaseState state, LeaseStatus expected) private pure {
        LeaseStatus status = state.status();
        if (status != expected) revert EquipmentLeaseUnexpectedStatus(leaseId, status);
    }

    /// @dev Active or Suspended: opened and not closed.
    function _requireRunning(uint256 leaseId, LeaseState state) private pure {
        LeaseStatus status = state.status();
        if (status != LeaseStatus.Active && status != LeaseStatus.Suspended) {
            revert EquipmentLeaseUnexpectedStatus(leaseId, status);
        }
    }

    function _requireLessor(uint256 leaseId, LeaseRecord storage record) private view {
        if (msg.sender != record.lessor) revert EquipmentLeaseNotLessor(leaseId, msg.sender);
    }
}
