// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IQualityLedger
/// @notice The facts of cross-firm quality control: organisations and their accounts, accredited inspectors,
/// production lots and the lots they consumed (lineage), each lot's append-only inspection record, alerts and
/// their acknowledgements. Holds no money.
/// @dev State machines, roles and invariants: docs/contracts/quality.md. Documents (lot data, inspection
/// reports) stay off-chain; the ledger stores salted-field Merkle roots of them (millchain.disclosure /
/// DisclosureLib). The lineage is walked off-chain from LotRegistered events; no function loops over storage.
interface IQualityLedger {
    // ------------------------------------------------------------------ types

    /// @notice Accreditation state of an inspector address.
    /// @dev None -> Accredited <-> Suspended; Accredited | Suspended -> Revoked (terminal).
    enum InspectorStatus {
        None,
        Accredited,
        Suspended,
        Revoked
    }

    /// @notice Verdict of an attestation. None marks an explicit alert that carries no verdict.
    enum Outcome {
        None,
        Pass,
        Conditional,
        Fail
    }

    /// @notice Severity of an alert. None exactly for a Pass; an attestation with a severity is an alert.
    enum Severity {
        None,
        Minor,
        Major,
        Critical
    }

    /// @notice An organisation, as returned by organisation().
    /// @param admin Account that manages members, bonds and receives claim payouts.
    /// @param index Internal 1-based index; lots and attestations refer to organisations by it.
    /// @param regulator Whether the organisation is a regulator (affected by every alert).
    struct Organisation {
        address admin;
        uint32 index;
        bool regulator;
    }

    /// @notice An inspector's accreditation, as returned by inspector().
    /// @param orgId The inspection body the inspector works for; fixed for good once accredited.
    /// @param status Accreditation state.
    /// @param since Block timestamp of the last status change or renewal.
    /// @param validUntil First timestamp at which the accreditation no longer holds (type(uint40).max: none).
    struct Inspector {
        bytes32 orgId;
        InspectorStatus status;
        uint40 since;
        uint40 validUntil;
    }

    /// @notice A lot, as returned by lot().
    /// @param producer Organisation that registered (produced) it.
    /// @param productId Product line / specification the lot is of; the bond key together with the producer.
    /// @param quantity Units in the lot.
    /// @param registeredAt Block timestamp of registration.
    /// @param inputCount Number of lots it consumed.
    /// @param attestationCount Attestations in its record; the next one gets seq attestationCount + 1.
    /// @param lineageDigest keccak256(abi.encode(dataCommitment, keccak256(abi.encodePacked(inputs)))).
    struct Lot {
        bytes32 producer;
        bytes32 productId;
        uint64 quantity;
        uint40 registeredAt;
        uint8 inputCount;
        uint32 attestationCount;
        bytes32 lineageDigest;
    }

    /// @notice What an inspector found, as submitted to attest / attestBySig.
    /// @param lotId The lot inspected.
    /// @param outcome Pass, Conditional, Fail, or None for an explicit alert without verdict.
    /// @param severity None for a Pass; Minor, Major or Critical otherwise.
    /// @param sampleSize Units inspected (at most the lot's quantity).
    /// @param defects Defective units found (at most sampleSize).
    /// @param supersedes 0, or the seq of an earlier attestation of this lot that this one corrects.
    /// @param reportCommitment Salted-field Merkle root of the full inspection report.
    /// @param uri Optional pointer to the report for authorised readers (kept in the event only).
    struct Finding {
        bytes32 lotId;
        Outcome outcome;
        Severity severity;
        uint32 sampleSize;
        uint32 defects;
        uint32 supersedes;
        bytes32 reportCommitment;
        string uri;
    }

    /// @notice An attestation in a lot's record, as returned by attestation().
    /// @param inspectorOrg Organisation of the inspector at the time (an inspector never changes organisation).
    /// @param outcome Verdict (None: explicit alert).
    /// @param severity Alert severity; None for a Pass.
    /// @param sampleSize Units inspected.
    /// @param defects Defective units found.
    /// @param attestedAt Block timestamp of the attestation.
    /// @param supersedes The seq it corrects, or 0.
    /// @param supersededBy The seq of the correction that superseded it, or 0 while current.
    /// @param independent Whether the inspector's organisation differs from the lot's producer.
    /// @param reportCommitment Salted-field Merkle root of the inspection report.
    struct Attestation {
        bytes32 inspectorOrg;
        Outcome outcome;
        Severity severity;
        uint32 sampleSize;
        uint32 defects;
        uint40 attestedAt;
        uint32 supersedes;
        uint32 supersededBy;
        bool independent;
        bytes32 reportCommitment;
    }

    // ------------------------------------------------------------------ events

    /// @notice Emitted when an organisation is registered.
    /// @param orgId The organisation.
    /// @param admin Its admin account (also its first member).
    /// @param index Its internal index.
    /// @param regulator Whether it is a regulator.
    event OrganisationRegistered(bytes32 indexed orgId, address indexed admin, uint32 index, bool regulator);

    /// @notice Emitted when an account becomes a member of an organisation.
    /// @param orgId The organisation.
    /// @param account The new member.
    event MemberAdded(bytes32 indexed orgId, address indexed account);

    /// @notice Emitted when an account stops being a member of an organisation.
    /// @param orgId The organisation.
    /// @param account The former member.
    event MemberRemoved(bytes32 indexed orgId, address indexed account);

    /// @notice Emitted when an organisation invites an account to join (addMember); the account joins only
    /// when it accepts (acceptMembership, which emits MemberAdded).
    /// @param orgId The organisation.
    /// @param account The invited account.
    event MemberInvited(bytes32 indexed orgId, address indexed account);

    /// @notice Emitted when a member leaves its organisation of its own accord (leaveOrganisation).
    /// @param orgId The organisation it left.
    /// @param account The account.
    event MemberLeft(bytes32 indexed orgId, address indexed account);

    /// @notice Emitted when an organisation's admin changes.
    /// @param orgId The organisation.
    /// @param previousAdmin The admin before (stays a member).
    /// @param newAdmin The admin after.
    event OrganisationAdminTransferred(bytes32 indexed orgId, address indexed previousAdmin, address indexed newAdmin);

    /// @notice Emitted when an inspector is accredited or its accreditation renewed.
    /// @param inspector The inspector (EOA or ERC-1271 contract wallet).
    /// @param orgId The inspection body it works for.
    /// @param validUntil First timestamp at which the accreditation no longer holds.
    event InspectorAccredited(address indexed inspector, bytes32 indexed orgId, uint40 validUntil);

    /// @notice Emitted when an inspector's accreditation is suspended.
    /// @param inspector The inspector.
    /// @param orgId Its organisation.
    event InspectorSuspended(address indexed inspector, bytes32 indexed orgId);

    /// @notice Emitted when a suspended accreditation is restored.
    /// @param inspector The inspector.
    /// @param orgId Its organisation.
    event InspectorRestored(address indexed inspector, bytes32 indexed orgId);

    /// @notice Emitted when an inspector's accreditation is revoked for good.
    /// @param inspector The inspector.
    /// @param orgId Its organisation.
    event InspectorRevoked(address indexed inspector, bytes32 indexed orgId);

    /// @notice Emitted when a lot is registered.
    /// @param lotId The lot.
    /// @param producer The producing organisation.
    /// @param productId Its product line.
    /// @param quantity Units in the lot.
    /// @param dataCommitment Salted-field Merkle root of the lot's data.
    /// @param inputs The lots it consumed, strictly ascending.
    event LotRegistered(
        bytes32 indexed lotId,
        bytes32 indexed producer,
        bytes32 indexed productId,
        uint64 quantity,
        bytes32 dataCommitment,
        bytes32[] inputs
    );

    /// @notice Emitted when an attestation (or explicit alert) is added to a lot's record. It is an alert when
    /// `severity != None`. Sample size, defects and the report commitment are not repeated here: they are in the
    /// record, attestation(lotId, seq).
    /// @param lotId The lot.
    /// @param seq Its number in the lot's record, from 1.
    /// @param inspector The inspector who attested (signer of a relayed attestation).
    /// @param outcome Verdict (None: explicit alert).
    /// @param severity Alert severity; None for a Pass.
    /// @param supersedes The seq it corrects, or 0.
    /// @param uri Pointer to the report, possibly empty.
    event Attested(
        bytes32 indexed lotId,
        uint32 indexed seq,
        address indexed inspector,
        Outcome outcome,
        Severity severity,
        uint32 supersedes,
        string uri
    );

    /// @notice Emitted when an organisation acknowledges an alert.
    /// @param lotId The alert's lot.
    /// @param seq The alert's attestation number.
    /// @param orgId The acknowledging organisation.
    /// @param by The member account that acknowledged.
    event AlertAcknowledged(bytes32 indexed lotId, uint32 indexed seq, bytes32 indexed orgId, address by);

    /// @notice Emitted when an account voids its signed attestations not yet relayed: every one whose nonce is in
    /// [`fromNonce`, `toNonce`) can never be relayed.
    /// @param inspector The signer (the caller).
    /// @param fromNonce Its nonce before the call.
    /// @param toNonce Its nonce now: the next relayed attestation must carry it.
    event SignedAttestationsCancelled(address indexed inspector, uint64 fromNonce, uint64 toNonce);

    // ------------------------------------------------------------------ errors

    /// @notice Thrown when an organisation, lot or product id is zero.
    error QualityLedgerZeroId();

    /// @notice Thrown when an admin, member or inspector address is the zero address.
    error QualityLedgerZeroAddress();

    /// @notice Thrown when registering an organisation id that is taken.
    /// @param orgId The taken id.
    error QualityLedgerOrganisationExists(bytes32 orgId);

    /// @notice Thrown when an organisation id was never registered.
    /// @param orgId The unknown id.
    error QualityLedgerUnknownOrganisation(bytes32 orgId);

    /// @notice Thrown when the caller is not the organisation's admin (nor, where allowed, an accreditor).
    /// @param orgId The organisation.
    /// @param caller The refused caller.
    error QualityLedgerNotOrganisationAdmin(bytes32 orgId, address caller);

    /// @notice Thrown when an account that already belongs to an organisation would join one.
    /// @param account The account.
    /// @param orgId The organisation it belongs to.
    error QualityLedgerAlreadyMember(address account, bytes32 orgId);

    /// @notice Thrown when removing an account that is not a member of the organisation.
    /// @param orgId The organisation.
    /// @param account The account.
    error QualityLedgerNotMember(bytes32 orgId, address account);

    /// @notice Thrown when removing an organisation's admin from its members.
    /// @param orgId The organisation.
    /// @param account The admin.
    error QualityLedgerCannotRemoveAdmin(bytes32 orgId, address account);

    /// @notice Thrown when an account accepts a membership it was not invited to.
    /// @param orgId The organisation.
    /// @param account The account.
    error QualityLedgerNotInvited(bytes32 orgId, address account);

    /// @notice Thrown when an account that was ever a member of one organisation is invited to, joins or is
    /// made admin of another: an account's affiliation is permanent, so membership changes never move a party's
    /// obligations.
    /// @param account The account.
    /// @param orgId The organisation it is affiliated with.
    error QualityLedgerAffiliatedElsewhere(address account, bytes32 orgId);

    /// @notice Thrown when the caller belongs to no organisation but must act for one.
    /// @param account The caller.
    error QualityLedgerNoOrganisation(address account);

    /// @notice Thrown when an accreditation would end at or before the current block's timestamp.
    /// @param validUntil The refused end.
    error QualityLedgerInvalidValidity(uint40 validUntil);

    /// @notice Thrown when an accreditation change does not apply to the inspector's current status.
    /// @param inspector The inspector.
    /// @param status Its current status.
    error QualityLedgerUnexpectedInspectorStatus(address inspector, InspectorStatus status);

    /// @notice Thrown when accrediting an inspector for another organisation than the one it works for.
    /// @param inspector The inspector.
    /// @param orgId The organisation it is bound to.
    error QualityLedgerInspectorOfOtherOrganisation(address inspector, bytes32 orgId);

    /// @notice Thrown when an inspector that is not accredited (never, suspended or revoked) attests.
    /// @param inspector The inspector.
    /// @param status Its status.
    error QualityLedgerInspectorNotAccredited(address inspector, InspectorStatus status);

    /// @notice Thrown when an inspector whose accreditation has expired attests.
    /// @param inspector The inspector.
    /// @param validUntil When the accreditation ended.
    error QualityLedgerAccreditationExpired(address inspector, uint40 validUntil);

    /// @notice Thrown when registering a lot id that is taken.
    /// @param lotId The taken id.
    error QualityLedgerLotExists(bytes32 lotId);

    /// @notice Thrown when a lot id (attested, consumed or looked up) was never registered.
    /// @param lotId The unknown id.
    error QualityLedgerUnknownLot(bytes32 lotId);

    /// @notice Thrown when registering a lot of zero units.
    /// @param lotId The lot.
    error QualityLedgerZeroQuantity(bytes32 lotId);

    /// @notice Thrown when a lot lists more inputs than MAX_INPUTS.
    /// @param count The number listed.
    /// @param max MAX_INPUTS.
    error QualityLedgerTooManyInputs(uint256 count, uint256 max);

    /// @notice Thrown when a lot's inputs are not strictly ascending (unsorted or duplicated).
    /// @param index Position of the first input not greater than the one before it.
    error QualityLedgerInputsNotAscending(uint256 index);

    /// @notice Thrown when outcome and severity do not fit: a Pass has severity None, anything else has one; an
    /// attestation through attest/attestBySig has a verdict or is an explicit alert (outcome None).
    /// @param outcome The outcome given.
    /// @param severity The severity given.
    error QualityLedgerInvalidOutcome(Outcome outcome, Severity severity);

    /// @notice Thrown when more defects than inspected units are reported.
    /// @param defects Defects reported.
    /// @param sampleSize Units inspected.
    error QualityLedgerDefectsExceedSample(uint32 defects, uint32 sampleSize);

    /// @notice Thrown when more units are reported inspected than the lot holds.
    /// @param sampleSize Units inspected.
    /// @param quantity Units in the lot.
    error QualityLedgerSampleExceedsLot(uint32 sampleSize, uint64 quantity);

    /// @notice Thrown when an attestation number does not exist in a lot's record.
    /// @param lotId The lot.
    /// @param seq The number.
    error QualityLedgerUnknownAttestation(bytes32 lotId, uint32 seq);

    /// @notice Thrown when correcting an attestation that a correction has already superseded.
    /// @param lotId The lot.
    /// @param seq The attestation.
    /// @param supersededBy The correction that superseded it.
    error QualityLedgerAlreadySuperseded(bytes32 lotId, uint32 seq, uint32 supersededBy);

    /// @notice Thrown when an inspector corrects an attestation made by another organisation's inspector.
    /// @param lotId The lot.
    /// @param seq The attestation.
    /// @param orgId The organisation whose inspectors alone may correct it.
    error QualityLedgerCorrectionByOtherOrganisation(bytes32 lotId, uint32 seq, bytes32 orgId);

    /// @notice Thrown when relaying a signed attestation after its deadline.
    /// @param deadline The signed deadline.
    error QualityLedgerSignatureExpired(uint40 deadline);

    /// @notice Thrown when a signed attestation's nonce is not its inspector's next one: below it, the signature
    /// was used already (a replay) or cancelled by the inspector; above it, an earlier signature of the inspector
    /// has not been relayed yet (they are relayed in nonce order).
    /// @param inspector The signing inspector.
    /// @param nonce The signed nonce.
    /// @param expected The inspector's next nonce (attestationNonce).
    error QualityLedgerInvalidNonce(address inspector, uint64 nonce, uint64 expected);

    /// @notice Thrown when cancelSignedAttestations does not move the caller's nonce forward, or moves it by more
    /// than 2**32 at once (so the 64-bit nonce can never run out).
    /// @param inspector The caller.
    /// @param upTo The nonce asked for.
    /// @param nonce The caller's nonce now.
    error QualityLedgerInvalidNonceCancellation(address inspector, uint64 upTo, uint64 nonce);

    /// @notice Thrown when a signature is not the inspector's (ECDSA for an EOA, ERC-1271 for a contract).
    /// @param inspector The inspector named.
    error QualityLedgerInvalidSignature(address inspector);

    /// @notice Thrown when acknowledging an attestation that is not an alert (a Pass).
    /// @param lotId The lot.
    /// @param seq The attestation.
    error QualityLedgerNotAnAlert(bytes32 lotId, uint32 seq);

    /// @notice Thrown when an organisation acknowledges an alert a second time.
    /// @param lotId The lot.
    /// @param seq The alert.
    /// @param orgId The organisation.
    error QualityLedgerAlreadyAcknowledged(bytes32 lotId, uint32 seq, bytes32 orgId);

    // ------------------------------------------------------------------ roles and constants

    /// @notice Role that registers organisations, manages inspectors' accreditations and recovers admins.
    function ACCREDITOR_ROLE() external view returns (bytes32);

    /// @notice Most lots a lot may list as inputs.
    function MAX_INPUTS() external view returns (uint256);

    // ------------------------------------------------------------------ organisations

    /// @notice Registers an organisation with its admin account, which becomes its first member. Accreditor.
    /// @param orgId Non-zero, unused id.
    /// @param admin Admin account; must not belong to another organisation.
    /// @param regulator Whether the organisation is a regulator.
    function registerOrganisation(bytes32 orgId, address admin, bool regulator) external;

    /// @notice Invites an account to join an organisation; it joins when it accepts (acceptMembership).
    /// Organisation admin, or an accreditor (so a recovered organisation can enrol its new admin key).
    /// @param orgId The organisation.
    /// @param account The account; must belong to no organisation and be affiliated with no other.
    function addMember(bytes32 orgId, address account) external;

    /// @notice Accepts the caller's pending invitation and joins `orgId`.
    /// @param orgId The organisation that invited the caller.
    function acceptMembership(bytes32 orgId) external;

    /// @notice The caller leaves its organisation (not as its admin). It stays affiliated with it: it may rejoin
    /// it, never another (see affiliationOf).
    function leaveOrganisation() external;

    /// @notice Removes a member account (not the admin). Organisation admin.
    /// @param orgId The organisation.
    /// @param account The member.
    function removeMember(bytes32 orgId, address account) external;

    /// @notice Hands an organisation to a new admin. The admin, or an accreditor (key recovery).
    /// @param orgId The organisation.
    /// @param newAdmin The new admin: a current member of this organisation (it accepted an invitation).
    function transferOrganisationAdmin(bytes32 orgId, address newAdmin) external;

    // ------------------------------------------------------------------ inspectors

    /// @notice Accredits an inspector for an organisation, or renews an accredited one's validity. Accreditor.
    /// @param inspector EOA or ERC-1271 contract wallet.
    /// @param orgId The inspection body; an inspector is bound to its first organisation for good.
    /// @param validUntil First timestamp at which the accreditation no longer holds (type(uint40).max: none).
    function accredit(address inspector, bytes32 orgId, uint40 validUntil) external;

    /// @notice Suspends an accredited inspector. Accreditor.
    /// @param inspector The inspector.
    function suspend(address inspector) external;

    /// @notice Restores a suspended inspector. Accreditor.
    /// @param inspector The inspector.
    function restore(address inspector) external;

    /// @notice Revokes an accredited or suspended inspector for good. Accreditor.
    /// @param inspector The inspector.
    function revoke(address inspector) external;

    // ------------------------------------------------------------------ lots

    /// @notice Registers a lot produced by the caller's organisation and the lots it consumed.
    /// @param lotId Non-zero, unused id.
    /// @param productId Non-zero product line / specification id.
    /// @param quantity Units in the lot, non-zero.
    /// @param dataCommitment Salted-field Merkle root of the lot's data.
    /// @param inputs Registered lots consumed, strictly ascending, at most MAX_INPUTS.
    function registerLot(
        bytes32 lotId,
        bytes32 productId,
        uint64 quantity,
        bytes32 dataCommitment,
        bytes32[] calldata inputs
    ) external;

    // ------------------------------------------------------------------ attestations and alerts

    /// @notice Adds the caller's finding to the lot's record; the caller must be an accredited inspector. It uses
    /// no nonce, so signatures the caller gave out for relaying stay valid (see cancelSignedAttestations).
    /// @param finding What was found; outcome None with a severity is an explicit alert.
    /// @return seq The attestation's number in the lot's record.
    function attest(Finding calldata finding) external returns (uint32 seq);

    /// @notice Adds a finding signed by an inspector (EIP-712 `Attestation`); anyone may relay it.
    /// @param finding What was found.
    /// @param inspector The signing inspector (EOA: ECDSA; contract: ERC-1271).
    /// @param nonce The replay guard: the inspector's next nonce (attestationNonce), which relaying uses up. No
    /// other account's act moves it, so the signature stays valid until it is relayed, until `deadline`, or
    /// until its signer cancels it (cancelSignedAttestations); a used or cancelled one reverts with
    /// QualityLedgerInvalidNonce. An inspector's signatures are relayed in nonce order.
    /// @param deadline Last timestamp at which the signature may be relayed.
    /// @param signature The inspector's signature over the typed data.
    /// @return The attestation's number in the lot's record.
    function attestBySig(
        Finding calldata finding,
        address inspector,
        uint64 nonce,
        uint40 deadline,
        bytes calldata signature
    ) external returns (uint32);

    /// @notice Voids the caller's signed attestations not yet relayed: every one with a nonce below `upTo`. Any
    /// account may call it for itself (an ERC-1271 wallet through its own call); a suspended inspector too.
    /// @param upTo The caller's new nonce: above its current one by at most 2**32.
    function cancelSignedAttestations(uint64 upTo) external;

    /// @notice Raises an explicit alert (outcome None, no sample) on a lot. Accredited inspector.
    /// @param lotId The lot.
    /// @param severity Minor, Major or Critical.
    /// @param reportCommitment Salted-field Merkle root of the supporting report.
    /// @param uri Optional pointer to the report.
    /// @return seq The alert's number in the lot's record.
    function raiseAlert(bytes32 lotId, Severity severity, bytes32 reportCommitment, string calldata uri)
        external
        returns (uint32 seq);

    /// @notice Records that the caller's organisation has acknowledged an alert.
    /// @param lotId The alert's lot.
    /// @param seq The alert's number.
    function acknowledge(bytes32 lotId, uint32 seq) external;

    // ------------------------------------------------------------------ views

    /// @notice An organisation. Reverts with QualityLedgerUnknownOrganisation for an unknown id.
    function organisation(bytes32 orgId) external view returns (Organisation memory);

    /// @notice The organisation an account belongs to, or zero.
    function organisationOf(address account) external view returns (bytes32);

    /// @notice The organisation an account belongs to or last belonged to (zero if never a member). Fixed from
    /// the account's first membership on: an account can never join another organisation, so contracts that
    /// bind a party's obligations to its organisation read this, not organisationOf.
    function affiliationOf(address account) external view returns (bytes32);

    /// @notice The organisation that invited `account` and awaits its acceptance, or zero.
    function invitationOf(address account) external view returns (bytes32);

    /// @notice Block timestamp of the latest independent Fail on a lot produced by `orgId` (one that does not
    /// merely correct an earlier Fail), or 0. QualityBonds freezes the organisation's bond withdrawals for
    /// WITHDRAWAL_DELAY after it, so claimants have that long to file.
    function lastIndependentFailAt(bytes32 orgId) external view returns (uint40);

    /// @notice The seq of the lot's latest attestation or alert by an organisation other than its producer, or 0.
    /// A correction by the same organisation is itself the latest, so this is the lot's current independent
    /// verdict; SupplyChainSettlement counts a lot as received by inspection only when it is a Pass.
    function latestIndependent(bytes32 lotId) external view returns (uint32);

    /// @notice Number of registered organisations (indices run from 1 to it).
    function organisationCount() external view returns (uint32);

    /// @notice The organisation with internal `index`, or zero.
    function organisationAt(uint32 index) external view returns (bytes32);

    /// @notice An inspector's accreditation; status None for an unknown address. Never reverts.
    function inspector(address account) external view returns (Inspector memory);

    /// @notice Whether `account` may attest now (accredited, not suspended, not expired). Never reverts.
    function canAttest(address account) external view returns (bool);

    /// @notice The nonce `inspector`'s next relayed attestation must carry (0 at first). Never reverts.
    function attestationNonce(address inspector) external view returns (uint64);

    /// @notice A lot. Reverts with QualityLedgerUnknownLot for an unknown id.
    function lot(bytes32 lotId) external view returns (Lot memory);

    /// @notice Attestation `seq` of a lot. Reverts with QualityLedgerUnknownLot / QualityLedgerUnknownAttestation.
    function attestation(bytes32 lotId, uint32 seq) external view returns (Attestation memory);

    /// @notice When an organisation acknowledged an alert, or 0.
    function acknowledgedAt(bytes32 lotId, uint32 seq, bytes32 orgId) external view returns (uint40);

    /// @notice Whether (`dataCommitment`, `inputs`) are the lot's registered data commitment and inputs.
    /// Reverts with QualityLedgerUnknownLot for an unknown id.
    function verifyLotData(bytes32 lotId, bytes32 dataCommitment, bytes32[] calldata inputs)
        external
        view
        returns (bool);

    /// @notice Whether (`name`, `value`, `salt`, `proof`) is a field of attestation `seq`'s committed report.
    function verifyReportField(
        bytes32 lotId,
        uint32 seq,
        string calldata name,
        bytes calldata value,
        bytes32 salt,
        bytes32[] calldata proof
    ) external view returns (bool);

    /// @notice The EIP-712 digest an inspector signs for attestBySig.
    function attestationDigest(Finding calldata finding, address inspector, uint64 nonce, uint40 deadline)
        external
        view
        returns (bytes32);
}
