// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IMachineRegistry} from "./IMachineRegistry.sol";

/// @title IEquipmentLease
/// @notice Pay-per-use leasing of machines: the machine's owner (lessor) offers terms, a factory (lessee) opens
/// the lease with a prepaid escrow, and the machine's own key signs cumulative usage counters (EIP-712
/// `UsageReport`) that anyone may submit. Each accepted report moves (new counter - last counter) x price, plus
/// the runtime part, from the escrow to the lessor. Withdrawals are pull-based.
/// @dev State machine, invariants and rounding: docs/contracts/equipment-lease.md.
///
/// A lease id is not a plain sequence number: it packs the billing terms a report needs, so that settling a
/// report reads one storage slot of the lease and not two:
///   leaseId = pricePerUnit << 160 | pricePerHour << 64 | maxRatePerHour << 32 | sequence
/// (uint96, uint96, uint32, uint32; the sequence starts at 1 and makes every id unique). The terms in an id are
/// authentic because only `offer` creates lease state, under the id it computed. The device signs the id, so a
/// report also attests the prices it is billed at.
interface IEquipmentLease {
    // ------------------------------------------------------------------ types

    /// @notice Lifecycle of a lease.
    /// @dev None -> Offered -> (Cancelled | Active); Active <-> Suspended; Active | Suspended -> Closed -> Settled.
    enum LeaseStatus {
        None, // no lease with this id
        Offered, // terms published by the machine's owner; nobody has opened it
        Active, // opened with escrow and no debt; reports settle
        Suspended, // a bill exceeded the escrow: debt recorded, the machine should be locked; reports still settle
        Closed, // closed; reports timestamped up to the close settle until closedAt + gracePeriod
        Settled, // escrow refunded to the lessee after the grace period; terminal
        Cancelled // offer withdrawn before anyone opened it; terminal
    }

    /// @notice Why submitUsageBatch skipped a report. Each matches a custom error thrown by submitUsage.
    enum SkipReason {
        UnknownLease, // EquipmentLeaseUnknownLease / EquipmentLeaseWrongMachine
        LeaseNotReporting, // EquipmentLeaseUnexpectedStatus: offered, settled or cancelled
        ReportFromFuture, // EquipmentLeaseReportFromFuture
        ReportExpired, // EquipmentLeaseReportExpired
        StaleReport, // EquipmentLeaseStaleReport: replayed or not newer than the last settled report
        ReportAfterClose, // EquipmentLeaseReportAfterClose
        GracePeriodOver, // EquipmentLeaseGracePeriodOver
        CounterBackwards, // EquipmentLeaseCounterBackwards
        RuntimeBackwards, // EquipmentLeaseRuntimeBackwards
        InvalidSignature, // EquipmentLeaseInvalidSignature: malformed or high-s signature
        InvalidSigner, // EquipmentLeaseInvalidSigner: not the machine's valid key at the report's timestamp
        MalformedReport, // EquipmentLeaseMalformedReport: a counter, runtime or timestamp word with bits above its type
        AnchorNotByCurrentKey // EquipmentLeaseAnchorNotByCurrentKey: a first report signed by a key that is not current
    }

    /// @notice Terms a lessor offers a machine on. Immutable once offered.
    /// @param token Settlement token (ERC-20; ERC-2612 permit optional). Fee-on-transfer and rebasing tokens are
    /// not supported.
    /// @param pricePerUnit Token base units per unit counted by the machine.
    /// @param pricePerHour Token base units per hour of machine runtime (0 for none), billed per second.
    /// @param minBalance Escrow below which EscrowFellBelowMinimum is emitted; the opening deposit must reach it.
    /// @param maxRatePerHour Most units the machine can plausibly produce per hour; more is an anomaly. Non-zero.
    /// @param endsAt Timestamp from which either party may close; an offer can no longer be opened from then on.
    /// @param heartbeat Seconds of report silence after which the lessor may mark the lease stale. Non-zero.
    /// @param gracePeriod Seconds after closing during which reports timestamped up to the close still settle.
    struct LeaseTerms {
        address token;
        uint96 pricePerUnit;
        uint96 pricePerHour;
        uint96 minBalance;
        uint32 maxRatePerHour;
        uint40 endsAt;
        uint24 heartbeat;
        uint24 gracePeriod;
    }

    /// @notice A machine's signed meter reading (EIP-712 primary type `UsageReport`).
    /// @param leaseId The lease the reading is for.
    /// @param machineId The machine (MachineRegistry id) whose key signs.
    /// @param counter Cumulative units produced by the machine.
    /// @param runtimeSeconds Cumulative runtime of the machine, in seconds (uint32: 136 years).
    /// @param timestamp Device time of the reading, in seconds since the Unix epoch.
    struct UsageReport {
        uint256 leaseId;
        bytes32 machineId;
        uint64 counter;
        uint32 runtimeSeconds;
        uint40 timestamp;
    }

    /// @notice A UsageReport with the device's EIP-2098 compact signature over its EIP-712 digest.
    /// @param report The reading.
    /// @param r Signature r.
    /// @param vs Signature s with the parity of v in its top bit (EIP-2098). High-s signatures are refused.
    struct SignedUsageReport {
        UsageReport report;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A UsageReport signed with a P-256 (secp256r1) device key, as TPMs and secure elements sign.
    /// @dev The signed hash is sha256(EIP-712 digest of the report) — what any "hash with SHA-256, then sign" API
    /// (WebCrypto ECDSA/SHA-256, `openssl dgst -sha256 -sign`) produces from the 32-byte digest. The key is the
    /// machine's if P256KeyLib.keyId(qx, qy) is, per MachineRegistry. Low s only: s <= n/2 (n the curve order); a
    /// signer normalises s to n - s.
    /// @param report The reading.
    /// @param r Signature r.
    /// @param s Signature s, at most n/2.
    /// @param qx The signing key's x.
    /// @param qy The signing key's y.
    struct P256SignedUsageReport {
        UsageReport report;
        bytes32 r;
        bytes32 s;
        bytes32 qx;
        bytes32 qy;
    }

    /// @notice Everything known about a lease, as returned by getLease.
    /// @param machineId The leased machine.
    /// @param lessor Owner of the machine when the offer was made; receives the payments.
    /// @param lessee Account that opened the lease; receives the refund. Before opening: the only account that may
    /// open it if the lessor named one (offerTo), else zero.
    /// @param terms The offered terms.
    /// @param status Lifecycle state.
    /// @param anchored Whether a first report has fixed the starting counters (it bills nothing).
    /// @param closeConsented Whether the lessor consented to the lessee closing before endsAt.
    /// @param lastCounter Counter of the last settled report.
    /// @param lastRuntimeSeconds Runtime of the last settled report.
    /// @param lastTimestamp Time of the last settled report: its timestamp, clamped to the block's timestamp (never
    /// later than the block it settled in); the block timestamp of opening before the first report.
    /// @param closedAt Block timestamp of closing; 0 before.
    /// @param escrow Prepaid balance left, refundable to the lessee after closing.
    /// @param earnings Billed and not yet withdrawn by the lessor.
    /// @param debt Billed beyond the escrow and not yet paid by a top-up.
    struct Lease {
        bytes32 machineId;
        address lessor;
        address lessee;
        LeaseTerms terms;
        LeaseStatus status;
        bool anchored;
        bool closeConsented;
        uint64 lastCounter;
        uint32 lastRuntimeSeconds;
        uint40 lastTimestamp;
        uint40 closedAt;
        uint96 escrow;
        uint96 earnings;
        uint256 debt;
    }

    // ----------------------------------------------------------------- events

    /// @notice Emitted when a machine's owner offers it for lease.
    /// @param leaseId The new lease id (it packs the billing terms).
    /// @param machineId The machine.
    /// @param lessor The offering owner.
    /// @param terms The terms.
    event LeaseOffered(uint256 indexed leaseId, bytes32 indexed machineId, address indexed lessor, LeaseTerms terms);

    /// @notice Emitted when a lessor withdraws an offer nobody opened.
    /// @param leaseId The lease.
    event OfferCancelled(uint256 indexed leaseId);

    /// @notice Emitted when a lessee opens a lease and deposits its escrow.
    /// @param leaseId The lease.
    /// @param machineId The machine, now leased.
    /// @param lessee The lessee.
    /// @param deposit The escrow deposited.
    event LeaseOpened(uint256 indexed leaseId, bytes32 indexed machineId, address indexed lessee, uint256 deposit);

    /// @notice Emitted when a top-up is deposited; debt is paid from it first.
    /// @param leaseId The lease.
    /// @param payer Who paid.
    /// @param amount The amount deposited.
    /// @param debtPaid The part of `amount` that paid debt (credited to the lessor).
    /// @param escrow The escrow after the top-up.
    event EscrowToppedUp(
        uint256 indexed leaseId, address indexed payer, uint256 amount, uint256 debtPaid, uint256 escrow
    );

    /// @notice Emitted when a report settles. The first report of a lease fixes the starting counters and bills
    /// nothing (units 0, amount 0).
    /// @param leaseId The lease.
    /// @param counter The new cumulative counter.
    /// @param units Units billed: counter minus the previous counter.
    /// @param amount Amount billed (units and runtime); the part beyond the escrow became debt.
    event UsageSettled(uint256 indexed leaseId, uint64 counter, uint256 units, uint256 amount);

    /// @notice Emitted instead of UsageSettled when a report exceeds the plausible rate: nothing is billed and the
    /// counters do not move, so a later plausible report bills the whole interval. See acceptAnomalousUsage and
    /// waiveAnomalousUsage for resolving it.
    /// @param leaseId The lease.
    /// @param report The report, with its signature, as it can be passed back to resolve the anomaly.
    /// @param units Units the report claims since the last settled report.
    /// @param maxUnits Most units plausible in the elapsed time: maxRatePerHour x elapsed / 3600.
    /// @param runtimeDelta Runtime seconds the report claims since the last settled report.
    /// @param maxRuntimeDelta Most runtime plausible: elapsed seconds, + 1 unless the lease's one second of
    /// sampling slack is in use (docs/contracts/equipment-lease.md, "Plausibility").
    event UsageAnomalyDetected(
        uint256 indexed leaseId,
        SignedUsageReport report,
        uint256 units,
        uint256 maxUnits,
        uint256 runtimeDelta,
        uint256 maxRuntimeDelta
    );

    /// @notice As UsageAnomalyDetected, for a P-256-signed report.
    /// @param leaseId The lease.
    /// @param report The report, with its signature and key.
    /// @param units Units the report claims since the last settled report.
    /// @param maxUnits Most units plausible in the elapsed time.
    /// @param runtimeDelta Runtime seconds the report claims since the last settled report.
    /// @param maxRuntimeDelta Most runtime plausible.
    event P256UsageAnomalyDetected(
        uint256 indexed leaseId,
        P256SignedUsageReport report,
        uint256 units,
        uint256 maxUnits,
        uint256 runtimeDelta,
        uint256 maxRuntimeDelta
    );

    /// @notice Emitted when the lessee accepts an anomalous report; a UsageSettled for it precedes this event.
    /// @param leaseId The lease.
    /// @param counter The accepted counter.
    event AnomalousUsageAccepted(uint256 indexed leaseId, uint64 counter);

    /// @notice Emitted when the lessor waives the usage up to a report: the counters move, nothing is billed.
    /// @param leaseId The lease.
    /// @param counter The new cumulative counter.
    /// @param units Units waived.
    event UsageWaived(uint256 indexed leaseId, uint64 counter, uint256 units);

    /// @notice Emitted when the lessor moves a lease's counters to a signed report's, up or down, billing nothing.
    /// @param leaseId The lease.
    /// @param counter The new cumulative counter.
    /// @param runtimeSeconds The new cumulative runtime.
    /// @param previousCounter The counter before.
    /// @param previousRuntimeSeconds The runtime before.
    event UsageReanchored(
        uint256 indexed leaseId,
        uint64 counter,
        uint32 runtimeSeconds,
        uint64 previousCounter,
        uint32 previousRuntimeSeconds
    );

    /// @notice Emitted by offerTo: only `lessee` may open the offer.
    /// @param leaseId The lease.
    /// @param lessee The account named.
    event LeaseReserved(uint256 indexed leaseId, address indexed lessee);

    /// @notice Emitted when submitUsageBatch skips a report.
    /// @param leaseId The report's lease id.
    /// @param counter The report's counter.
    /// @param timestamp The report's timestamp.
    /// @param reason Why; the same condition makes submitUsage revert with the matching custom error.
    event UsageReportSkipped(uint256 indexed leaseId, uint64 counter, uint40 timestamp, SkipReason reason);

    /// @notice Emitted when a bill takes the escrow from at or above the minimum balance to below it.
    /// @param leaseId The lease.
    /// @param escrow The escrow left.
    /// @param minBalance The minimum balance of the terms.
    event EscrowFellBelowMinimum(uint256 indexed leaseId, uint256 escrow, uint256 minBalance);

    /// @notice Emitted when a bill exceeds the escrow of an active lease: the escrow is billed in full, the rest
    /// recorded as debt, and the machine should be locked until a top-up pays the debt.
    /// @param leaseId The lease.
    /// @param debt The debt.
    event LeaseSuspended(uint256 indexed leaseId, uint256 debt);

    /// @notice Emitted when a top-up pays the whole debt of a suspended lease.
    /// @param leaseId The lease.
    /// @param escrow The escrow after the top-up.
    event LeaseResumed(uint256 indexed leaseId, uint256 escrow);

    /// @notice Emitted when the lessor marks a lease stale: no report settled within the heartbeat.
    /// @param leaseId The lease.
    /// @param lastTimestamp Timestamp of the last settled report (of opening, before the first).
    /// @param heartbeat The heartbeat of the terms, in seconds.
    event LeaseMarkedStale(uint256 indexed leaseId, uint40 lastTimestamp, uint24 heartbeat);

    /// @notice Emitted when the lessor consents to the lessee closing before endsAt.
    /// @param leaseId The lease.
    event EarlyCloseConsented(uint256 indexed leaseId);

    /// @notice Emitted when a lease is closed; the machine is free for a new lease.
    /// @param leaseId The lease.
    /// @param machineId The machine.
    /// @param closedBy The party that closed it.
    /// @param settleUntil Last block timestamp at which reports (timestamped up to the close) settle; the
    /// lessee's refund is withdrawable after it.
    event LeaseClosed(uint256 indexed leaseId, bytes32 indexed machineId, address indexed closedBy, uint256 settleUntil);

    /// @notice Emitted when the lessor withdraws billed amounts.
    /// @param leaseId The lease.
    /// @param lessor The lessor.
    /// @param amount The amount transferred.
    event EarningsWithdrawn(uint256 indexed leaseId, address indexed lessor, uint256 amount);

    /// @notice Emitted when the lessee withdraws the escrow left after the grace period; the lease is settled.
    /// @param leaseId The lease.
    /// @param lessee The lessee.
    /// @param amount The amount transferred.
    event RefundWithdrawn(uint256 indexed leaseId, address indexed lessee, uint256 amount);

    // ----------------------------------------------------------------- errors

    /// @notice Thrown when offering a machine the caller does not own (per MachineRegistry).
    /// @param machineId The machine.
    /// @param account The caller.
    /// @param owner The machine's owner.
    error EquipmentLeaseNotMachineOwner(bytes32 machineId, address account, address owner);

    /// @notice Thrown when offering or opening a lease of a machine the registry reports as revoked.
    /// @param machineId The machine.
    error EquipmentLeaseMachineRevoked(bytes32 machineId);

    /// @notice Thrown when offered terms name the zero address as token.
    /// @param token The token.
    error EquipmentLeaseInvalidToken(address token);

    /// @notice Thrown when offered terms end at or before the current block timestamp.
    /// @param endsAt The end of the terms.
    /// @param currentTime The block timestamp.
    error EquipmentLeaseEndNotInFuture(uint40 endsAt, uint256 currentTime);

    /// @notice Thrown when offered terms have a zero maximum rate.
    /// @param machineId The machine.
    error EquipmentLeaseZeroMaxRate(bytes32 machineId);

    /// @notice Thrown when offered terms have a zero heartbeat.
    /// @param machineId The machine.
    error EquipmentLeaseZeroHeartbeat(bytes32 machineId);

    /// @notice Thrown when no lease has this id.
    /// @param leaseId The id.
    error EquipmentLeaseUnknownLease(uint256 leaseId);

    /// @notice Thrown when a running lease is acted on in the middle of a change of its machine's key: the registry
    /// has changed the key and this contract has not yet been told (a call re-entering from a key listener notified
    /// before it), so the lease's state cannot be found and nothing may be paid or changed from it.
    /// @param leaseId The lease.
    error EquipmentLeaseKeyChangeInProgress(uint256 leaseId);

    /// @notice Thrown when a report names a lease of another machine.
    /// @param leaseId The lease.
    /// @param machineId The machine the report names.
    /// @param leasedMachineId The machine of the lease.
    error EquipmentLeaseWrongMachine(uint256 leaseId, bytes32 machineId, bytes32 leasedMachineId);

    /// @notice Thrown when the lease is not in a state that allows the operation.
    /// @param leaseId The lease.
    /// @param status Its state.
    error EquipmentLeaseUnexpectedStatus(uint256 leaseId, LeaseStatus status);

    /// @notice Thrown when an operation of the lessor is called by another account.
    /// @param leaseId The lease.
    /// @param account The caller.
    error EquipmentLeaseNotLessor(uint256 leaseId, address account);

    /// @notice Thrown when an operation of the lessee is called by another account.
    /// @param leaseId The lease.
    /// @param account The caller.
    error EquipmentLeaseNotLessee(uint256 leaseId, address account);

    /// @notice Thrown when closing is attempted by an account that is neither lessor nor lessee.
    /// @param leaseId The lease.
    /// @param account The caller.
    error EquipmentLeaseNotParty(uint256 leaseId, address account);

    /// @notice Thrown when opening an offer at or after its end.
    /// @param leaseId The lease.
    /// @param endsAt The end of its terms.
    error EquipmentLeaseOfferExpired(uint256 leaseId, uint40 endsAt);

    /// @notice Thrown when opening an offer whose lessor no longer owns the machine.
    /// @param leaseId The lease.
    /// @param lessor The lessor of the offer.
    /// @param owner The machine's current owner.
    error EquipmentLeaseLessorNoLongerOwner(uint256 leaseId, address lessor, address owner);

    /// @notice Thrown when opening an offer the lessor reserved for another account (offerTo).
    /// @param leaseId The lease.
    /// @param account The caller.
    /// @param lessee The account the offer is reserved for.
    error EquipmentLeaseNotDesignatedLessee(uint256 leaseId, address account, address lessee);

    /// @notice Thrown when offerTo names the zero address.
    /// @param machineId The machine.
    error EquipmentLeaseZeroLessee(bytes32 machineId);

    /// @notice Thrown when opening a lease on a machine that has an active (unclosed) lease.
    /// @param machineId The machine.
    /// @param activeLeaseId Its active lease.
    error EquipmentLeaseMachineBusy(bytes32 machineId, uint256 activeLeaseId);

    /// @notice Thrown when the opening deposit is below the minimum balance of the terms.
    /// @param leaseId The lease.
    /// @param deposit The deposit.
    /// @param minBalance The minimum balance.
    error EquipmentLeaseDepositBelowMinimum(uint256 leaseId, uint256 deposit, uint256 minBalance);

    /// @notice Thrown when topping up with zero.
    /// @param leaseId The lease.
    error EquipmentLeaseZeroAmount(uint256 leaseId);

    /// @notice Thrown when a report is timestamped more than MAX_CLOCK_SKEW after the block; or when it is dated after
    /// the block (newer than the last settled report) and either the last settled report already holds the block's
    /// timestamp or the report does not change the counters (same counter and runtime as the last settled report):
    /// it settles unchanged in a later block whose timestamp is not before its own.
    /// @param leaseId The lease.
    /// @param timestamp The report's timestamp.
    /// @param latestAccepted The latest timestamp accepted for this report in this block: block timestamp +
    /// MAX_CLOCK_SKEW in the first case, the block timestamp in the second.
    error EquipmentLeaseReportFromFuture(uint256 leaseId, uint40 timestamp, uint256 latestAccepted);

    /// @notice Thrown when a report is timestamped more than ACCEPTANCE_WINDOW before the block.
    /// @param leaseId The lease.
    /// @param timestamp The report's timestamp.
    /// @param oldestAccepted The oldest timestamp accepted in this block.
    error EquipmentLeaseReportExpired(uint256 leaseId, uint40 timestamp, uint256 oldestAccepted);

    /// @notice Thrown when a report's timestamp is not after the last settled one's (a replay or an older report).
    /// @param leaseId The lease.
    /// @param timestamp The report's timestamp.
    /// @param lastTimestamp Timestamp of the last settled report (of opening, before the first).
    error EquipmentLeaseStaleReport(uint256 leaseId, uint40 timestamp, uint40 lastTimestamp);

    /// @notice Thrown when a report for a closed lease is timestamped after the close.
    /// @param leaseId The lease.
    /// @param timestamp The report's timestamp.
    /// @param closedAt Block timestamp of the close.
    error EquipmentLeaseReportAfterClose(uint256 leaseId, uint40 timestamp, uint40 closedAt);

    /// @notice Thrown when a report for a closed lease arrives after its grace period.
    /// @param leaseId The lease.
    /// @param settleUntil Last block timestamp at which reports settled.
    error EquipmentLeaseGracePeriodOver(uint256 leaseId, uint256 settleUntil);

    /// @notice Thrown when a report's counter is below the last settled counter.
    /// @param leaseId The lease.
    /// @param counter The report's counter.
    /// @param lastCounter The last settled counter.
    error EquipmentLeaseCounterBackwards(uint256 leaseId, uint64 counter, uint64 lastCounter);

    /// @notice Thrown when a report's runtime is below the last settled runtime.
    /// @param leaseId The lease.
    /// @param runtimeSeconds The report's runtime.
    /// @param lastRuntimeSeconds The last settled runtime.
    error EquipmentLeaseRuntimeBackwards(uint256 leaseId, uint32 runtimeSeconds, uint32 lastRuntimeSeconds);

    /// @notice Thrown when a report's signature is malformed or has a high s.
    /// @param leaseId The lease.
    error EquipmentLeaseInvalidSignature(uint256 leaseId);

    /// @notice Thrown when a report's counter, runtime or timestamp word has bits set above its type (an encoding
    /// no ABI encoder produces; the values could not be what the device signed).
    /// @param leaseId The report's lease id.
    error EquipmentLeaseMalformedReport(uint256 leaseId);

    /// @notice Thrown when the first report of a lease, or a re-anchor, is signed by a key that is not the machine's
    /// current key (a rotated-out key back-dating into its old window, or the key of a revoked machine).
    /// @param leaseId The lease.
    /// @param signer The recovered signer.
    error EquipmentLeaseAnchorNotByCurrentKey(uint256 leaseId, address signer);

    /// @notice Thrown when a report's signer is not the machine's valid key at the report's timestamp (another
    /// key, a rotated-out or revoked key, or a signature over another chain's or contract's domain).
    /// @param leaseId The lease.
    /// @param machineId The machine.
    /// @param signer The recovered signer.
    /// @param timestamp The report's timestamp.
    error EquipmentLeaseInvalidSigner(uint256 leaseId, bytes32 machineId, address signer, uint40 timestamp);

    /// @notice Thrown when closing before endsAt is not allowed: see close.
    /// @param leaseId The lease.
    /// @param account The caller.
    /// @param endsAt The end of the terms.
    error EquipmentLeaseCloseNotAllowed(uint256 leaseId, address account, uint40 endsAt);

    /// @notice Thrown when marking a lease stale before its heartbeat has passed.
    /// @param leaseId The lease.
    /// @param staleAfter The block timestamp after which it can be marked stale.
    error EquipmentLeaseHeartbeatNotMissed(uint256 leaseId, uint256 staleAfter);

    /// @notice Thrown when withdrawing a refund during the grace period.
    /// @param leaseId The lease.
    /// @param refundableAfter The block timestamp after which the refund can be withdrawn.
    error EquipmentLeaseGracePeriodActive(uint256 leaseId, uint256 refundableAfter);

    /// @notice Thrown when the lessor has nothing to withdraw from a lease.
    /// @param leaseId The lease.
    error EquipmentLeaseNothingToWithdraw(uint256 leaseId);

    /// @notice Thrown when anyone but the MachineRegistry calls onMachineKeyChanged.
    /// @param account The caller.
    error EquipmentLeaseNotRegistry(address account);

    /// @notice Thrown when offering a lease while this contract is not a key listener of its MachineRegistry: it
    /// would not hear of a key rotation or revocation (IMachineRegistry.addKeyListener).
    /// @param registry The registry.
    error EquipmentLeaseNotKeyListener(address registry);

    // -------------------------------------------------------------- functions

    /// @notice Role that may pause and unpause offers, opens and reports.
    function PAUSER_ROLE() external view returns (bytes32);

    /// @notice Seconds a report's timestamp may run ahead of the block timestamp (device clock skew): 300. Such a
    /// report is settled as if dated at the block's timestamp: a lease's stored time (lastTimestamp) is never later
    /// than the block it was written in, and the plausible rate is judged on that clamped time.
    function MAX_CLOCK_SKEW() external view returns (uint256);

    /// @notice Seconds a report's timestamp may lag behind the block timestamp: 86400. Older readings are
    /// refused; because counters are cumulative a fresh reading bills what a refused one would have. Not applied
    /// to a closed lease, whose reports are bounded by closedAt and its grace period instead.
    function ACCEPTANCE_WINDOW() external view returns (uint256);

    /// @notice EIP-712 type hash of UsageReport.
    function USAGE_REPORT_TYPEHASH() external view returns (bytes32);

    /// @notice As offer, reserving the offer for `lessee`: only that account may open it (LeaseReserved).
    /// @param machineId The machine.
    /// @param terms The terms.
    /// @param lessee The only account that may open the lease; non-zero.
    /// @return leaseId The new lease id.
    function offerTo(bytes32 machineId, LeaseTerms calldata terms, address lessee) external returns (uint256 leaseId);

    /// @notice Offers the caller's machine for lease on `terms`. Not while paused.
    /// @dev The caller must own the machine per MachineRegistry. A machine may have several open offers; the
    /// first one opened wins and the others can be opened after it closes, until their endsAt.
    /// @param machineId The machine.
    /// @param terms The terms; token non-zero, endsAt in the future, maxRatePerHour and heartbeat non-zero.
    /// @return leaseId The new lease id.
    function offer(bytes32 machineId, LeaseTerms calldata terms) external returns (uint256 leaseId);

    /// @notice Withdraws an offer nobody has opened. Lessor only.
    /// @param leaseId The lease.
    function cancelOffer(uint256 leaseId) external;

    /// @notice Opens an offered lease as lessee and deposits `deposit` as escrow (transferFrom the caller, who
    /// must have approved this contract). Not while paused.
    /// @dev Refused if the offer is reserved for another account, has reached endsAt, the lessor no longer owns the
    /// machine, the machine is revoked or has an active lease, or `deposit` is below minBalance. The first report
    /// afterwards, signed by the machine's current key, fixes the starting counters.
    /// @param leaseId The offer.
    /// @param deposit The escrow to deposit.
    function open(uint256 leaseId, uint96 deposit) external;

    /// @notice As open, approving the deposit with an ERC-2612 permit signed by the caller.
    /// @dev If the permit call fails (for instance because someone front-ran it) the open still proceeds when
    /// the allowance suffices.
    /// @param leaseId The offer.
    /// @param deposit The escrow to deposit; also the permit's value.
    /// @param deadline The permit's deadline.
    /// @param v Permit signature v.
    /// @param r Permit signature r.
    /// @param s Permit signature s.
    function openWithPermit(uint256 leaseId, uint96 deposit, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;

    /// @notice Adds `amount` to a lease's escrow (transferFrom the caller; anyone may pay). Debt is paid first;
    /// a suspended lease whose debt is paid in full resumes. Allowed while paused.
    /// @param leaseId An active, suspended or closed (not yet settled) lease.
    /// @param amount The amount; non-zero.
    function topUp(uint256 leaseId, uint96 amount) external;

    /// @notice As topUp, approving with an ERC-2612 permit signed by the caller; proceeds if the permit fails and
    /// the allowance suffices.
    /// @param leaseId The lease.
    /// @param amount The amount; also the permit's value.
    /// @param deadline The permit's deadline.
    /// @param v Permit signature v.
    /// @param r Permit signature r.
    /// @param s Permit signature s.
    function topUpWithPermit(uint256 leaseId, uint96 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;

    /// @notice Settles one signed report; anyone may submit. Not while paused.
    /// @dev Reverts with the custom error of the first failed check, in this order: counter, runtime and timestamp
    /// words clean, lease known for the machine, status (Active, Suspended or Closed), for a closed lease within
    /// the grace period and timestamped no later than the close, not more than MAX_CLOCK_SKEW from the future, not
    /// expired (running leases only), timestamp after the last settled report's and its clamped time
    /// min(timestamp, block.timestamp) too and, if dated after the block, changing the counters, counter and runtime
    /// not backwards, signature well-formed, signer valid
    /// for the machine at the report's timestamp, and for the first report that signer the machine's current key.
    /// The first report of a lease only fixes the starting counters. A later report above the plausible rate does
    /// not revert: it emits UsageAnomalyDetected, bills nothing and returns false. The lease's stored time becomes
    /// the clamped time. A same-second newer counter is stale; dated one second later it settles as soon as a
    /// block's timestamp exceeds the last settled report's (before, EquipmentLeaseReportFromFuture).
    /// @param signed The report and its signature.
    /// @return settled True if the report settled (UsageSettled), false if it was an anomaly.
    function submitUsage(SignedUsageReport calldata signed) external returns (bool settled);

    /// @notice Settles many signed reports, for any leases, in one transaction; anyone may submit. Not while
    /// paused.
    /// @dev A report that submitUsage would refuse is skipped with UsageReportSkipped naming the reason, an
    /// anomaly emits UsageAnomalyDetected; the other reports settle. Reports for the same lease must be in
    /// timestamp order (a later one makes an earlier one stale). Bounded by calldata only.
    /// @param reports The reports and their signatures.
    /// @return settled How many reports settled.
    function submitUsageBatch(SignedUsageReport[] calldata reports) external returns (uint256 settled);

    /// @notice As submitUsage, for a report signed with a P-256 key. A bad signature (failed verification, high s,
    /// r or s out of range, a key not on the curve) is EquipmentLeaseInvalidSignature; a valid signature by a key
    /// that is not the machine's at the report's timestamp is EquipmentLeaseInvalidSigner (signer: the key id).
    /// @param signed The report, its signature and key.
    /// @return settled True if the report settled, false if it was an anomaly (P256UsageAnomalyDetected).
    function submitUsageP256(P256SignedUsageReport calldata signed) external returns (bool settled);

    /// @notice As submitUsageBatch, for secp256k1- and P-256-signed reports in one transaction: `reports` are
    /// settled first, in order, then `p256Reports`. A report that would be refused is skipped (UsageReportSkipped),
    /// a bad P-256 signature like any other bad report.
    /// @param reports secp256k1-signed reports.
    /// @param p256Reports P-256-signed reports.
    /// @return settled How many reports settled.
    function submitUsageBatchMixed(SignedUsageReport[] calldata reports, P256SignedUsageReport[] calldata p256Reports)
        external
        returns (uint256 settled);

    /// @notice Lessee only: settles a report skipping the plausible-rate check and the acceptance window, to
    /// accept usage reported as an anomaly. All other checks apply. Not while paused.
    /// @param signed The report and its signature (as in UsageAnomalyDetected).
    function acceptAnomalousUsage(SignedUsageReport calldata signed) external;

    /// @notice Lessor only: moves the lease's counters to a report's without billing the units and runtime in
    /// between, to waive usage reported as an anomaly. The plausible-rate check and the acceptance window are
    /// skipped, all other checks apply. Not while paused.
    /// @param signed The report and its signature (as in UsageAnomalyDetected).
    function waiveAnomalousUsage(SignedUsageReport calldata signed) external;

    /// @notice Lessor only: moves the lease's counters, up or down, to a report signed by the machine's current
    /// key, billing nothing (UsageReanchored): to recover a lease whose first report fixed counters the machine
    /// cannot reach (a poisoned anchor, a replaced device whose counter restarted). The plausible-rate check, the
    /// acceptance window and the backwards checks are skipped, all other checks apply; the billing that follows is
    /// bounded by the plausible rate since the report, as always. On an unanchored lease it anchors. Not while
    /// paused.
    /// @param signed The report and its signature.
    function reanchor(SignedUsageReport calldata signed) external;

    /// @notice As reanchor, for a machine whose current key is a P-256 key: the lessor's recovery from a poisoned
    /// anchor (or a replaced device's restarted counter) must not depend on the key type. The signature rules are
    /// submitUsageP256's.
    /// @param signed The report, its signature and key.
    function reanchorP256(P256SignedUsageReport calldata signed) external;

    /// @notice Lessor only: records that no report settled within the heartbeat (block timestamp past the last
    /// report's timestamp + heartbeat). Emits LeaseMarkedStale; changes no state.
    /// @param leaseId An active or suspended lease.
    function markStale(uint256 leaseId) external;

    /// @notice Lessor only: consents to the lessee closing before endsAt. Cannot be withdrawn.
    /// @param leaseId An active or suspended lease.
    function consentToClose(uint256 leaseId) external;

    /// @notice Closes a lease and frees the machine for a new one. Lessor or lessee from endsAt on. Before endsAt:
    /// the lessee if the lessor consented or the registry reports the machine revoked; the lessor if no report has
    /// settled (the lease is not anchored) and its heartbeat has passed since opening. Reports timestamped up to the
    /// close still settle for gracePeriod seconds, whatever its length (the acceptance window does not apply to a
    /// closed lease); then the lessee may withdraw the refund. Allowed while paused.
    /// @param leaseId An active or suspended lease.
    function close(uint256 leaseId) external;

    /// @notice Lessor only: transfers everything billed and not yet withdrawn on a lease to the lessor. Allowed
    /// while paused and in any state, but not in the middle of a change of the machine's key (every call that looks
    /// a lease up by id reverts EquipmentLeaseKeyChangeInProgress then).
    /// @param leaseId The lease.
    /// @return amount The amount transferred.
    function withdrawEarnings(uint256 leaseId) external returns (uint256 amount);

    /// @notice Lessee only: after the grace period of a closed lease, transfers the escrow left to the lessee and
    /// settles the lease (also when nothing is left). Allowed while paused.
    /// @param leaseId A closed lease.
    /// @return amount The amount transferred.
    function withdrawRefund(uint256 leaseId) external returns (uint256 amount);

    /// @notice Pauses offers, opens and reports. PAUSER_ROLE only.
    function pause() external;

    /// @notice Unpauses. PAUSER_ROLE only.
    function unpause() external;

    /// @notice The machine registry consulted for ownership and signing keys.
    function registry() external view returns (IMachineRegistry);

    /// @notice A lease's full state. Reverts with EquipmentLeaseUnknownLease for an unknown id.
    /// @param leaseId The lease.
    function getLease(uint256 leaseId) external view returns (Lease memory);

    /// @notice The machine's active (opened, not closed) lease; 0 if none.
    /// @param machineId The machine.
    function activeLeaseOf(bytes32 machineId) external view returns (uint256);

    /// @notice The EIP-712 digest a device signs for `report` on this chain and contract.
    /// @param report The report.
    function usageReportDigest(UsageReport calldata report) external view returns (bytes32);
}
