// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IQualityLedger} from "../interfaces/IQualityLedger.sol";
import {DisclosureLib} from "../libraries/DisclosureLib.sol";
import {QualityLotLib} from "./QualityLotLib.sol";

/// @title QualityLedger
/// @notice Organisations, accredited inspectors, lots with their lineage, append-only inspection records,
/// alerts and acknowledgements. See IQualityLedger and docs/contracts/quality.md.
/// @dev Organisations are referred to internally by a 32-bit index so a lot's producer and an attestation's
/// inspector organisation pack into the record's first slot. An attestation costs two new slots (the packed
/// record and the report commitment) plus the lot's counter; everything else is in its event.
contract QualityLedger is IQualityLedger, AccessControl, EIP712 {
    /// @dev One slot: 160 + 32 + 8.
    struct OrganisationRecord {
        address admin;
        uint32 index;
        bool regulator;
    }

    /// @dev One slot: 32 + 8 + 40 + 40 + 64. _activeInspectorOrg and _useNonce read it as one word;
    /// tests/contracts/test_quality_ledger.py pins the bit offsets they assume. `nonce` is the replay guard of
    /// attestBySig: packed here because a relayed attestation reads this slot anyway, so using the nonce costs one
    /// warm rewrite of a live slot (2,900 gas) instead of a cold read and a write of a slot of its own.
    struct InspectorRecord {
        uint32 org;
        InspectorStatus status;
        uint40 since;
        uint40 validUntil;
        uint64 nonce;
    }

    /// @dev An account's standing: `org` is its affiliation, set by its first membership and never changed to
    /// another organisation; `active` whether it is a member now; `invitation` the organisation whose invitation
    /// awaits its acceptance. One slot: 32 + 8 + 32.
    struct Membership {
        uint32 org;
        bool active;
        uint32 invitation;
    }

    /// @dev Per organisation index, one slot (40 + 40). Written at registration so that the slot is never zero
    /// and the first failure against the organisation rewrites a live slot (5,000 gas) rather than creating one
    /// (22,100), which keeps every attestation within its 90,000 gas target.
    struct OrganisationClock {
        uint40 registeredAt;
        uint40 lastIndependentFailAt;
    }

    /// @dev Three slots: the packed header (32 + 64 + 40 + 8 + 32 + 32), the product id, the lineage digest. An
    /// attestation reads and writes the header as one word (_lotHeader, _record);
    /// tests/contracts/test_quality_ledger.py pins the bit offsets they assume.
    struct LotRecord {
        uint32 producer;
        uint64 quantity;
        uint40 registeredAt;
        uint8 inputCount;
        uint32 attestationCount;
        // The seq of the latest attestation or alert by an organisation other than the producer (0: none).
        uint32 latestIndependent;
        bytes32 productId;
        bytes32 lineageDigest;
    }

    /// @dev Two slots: the packed record (32 + 8 + 8 + 32 + 32 + 40 + 32 + 32 = 216) and the commitment.
    struct AttestationRecord {
        uint32 inspectorOrg;
        Outcome outcome;
        Severity severity;
        uint32 sampleSize;
        uint32 defects;
        uint40 attestedAt;
        uint32 supersedes;
        uint32 supersededBy;
        bytes32 reportCommitment;
    }

    /// @inheritdoc IQualityLedger
    bytes32 public constant ACCREDITOR_ROLE = keccak256("ACCREDITOR_ROLE");

    /// @inheritdoc IQualityLedger
    uint256 public constant MAX_INPUTS = 32;

    /// @dev keccak256 of the EIP-712 type string a wallet shows; must never change. The members come in the
    /// order of Finding's calldata head, so the struct hash can copy them in one go (_attestationDigest).
    bytes32 private constant _ATTESTATION_TYPEHASH = keccak256(
        "Attestation(bytes32 lotId,uint8 outcome,uint8 severity,uint32 sampleSize,uint32 defects,uint32 supersedes,"
        "bytes32 reportCommitment,string uri,address inspector,uint64 nonce,uint40 deadline)"
    );

    mapping(bytes32 orgId => OrganisationRecord) private _organisations;
    mapping(uint32 index => bytes32 orgId) private _organisationIds;
    uint32 private _organisationCount;
    mapping(address account => Membership) private _members;
    mapping(uint32 orgIndex => OrganisationClock) private _clocks;
    mapping(address inspector => InspectorRecord) private _inspectors;
    mapping(bytes32 lotId => LotRecord) private _lots;
    mapping(bytes32 lotId => mapping(uint32 seq => AttestationRecord)) private _attestations;
    mapping(bytes32 lotId => mapping(uint32 seq => mapping(uint32 orgIndex => uint40 at))) private _acknowledgedAt;

    /// @param admin Account granted DEFAULT_ADMIN_ROLE and ACCREDITOR_ROLE.
    constructor(address admin) EIP712("QualityLedger", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ACCREDITOR_ROLE, admin);
    }

    // ---------------------------------------------------------------- organisations

    /// @inheritdoc IQualityLedger
    function registerOrganisation(bytes32 orgId, address admin, bool regulator)
        external
        onlyRole(ACCREDITOR_ROLE)
    {
        if (orgId == bytes32(0)) revert QualityLedgerZeroId();
        if (admin == address(0)) revert QualityLedgerZeroAddress();
        if (_organisations[orgId].index != 0) revert QualityLedgerOrganisationExists(orgId);
        // A new organisation's index is no account's affiliation yet: any affiliation is another one.
        _requireJoinable(_members[admin], admin, type(uint32).max);

        uint32 index = ++_organisationCount;
        _organisations[orgId] = OrganisationRecord({admin: admin, index: index, regulator: regulator});
        _organisationIds[index] = orgId;
        _clocks[index].registeredAt = _now();
        _members[admin] = Membership({org: index, active: true, invitation: 0});
        emit OrganisationRegistered(orgId, admin, index, regulator);
        emit MemberAdded(orgId, admin);
    }

    /// @inheritdoc IQualityLedger
    function addMember(bytes32 orgId, address account) external {
        // The accreditor may invite too: after a lost admin key it enrols the new key, which must still accept.
        uint32 index = _organisationAdminOnly(orgId, true).index;
        if (account == address(0)) revert QualityLedgerZeroAddress();
        Membership storage m = _members[account];
        _requireJoinable(m, account, index);
        m.invitation = index;
        emit MemberInvited(orgId, account);
    }

    /// @inheritdoc IQualityLedger
    function acceptMembership(bytes32 orgId) external {
        uint32 index = _existingOrganisation(orgId).index;
        Membership storage m = _members[msg.sender];
        if (m.invitation != index) revert QualityLedgerNotInvited(orgId, msg.sender);
        // Checked again: the account may have become another organisation's admin since it was invited.
        _requireJoinable(m, msg.sender, index);
        _members[msg.sender] = Membership({org: index, active: true, invitation: 0});
        emit MemberAdded(orgId, msg.sender);
    }

    /// @inheritdoc IQualityLedger
    function leaveOrganisation() external {
        Membership storage m = _members[msg.sender];
        bytes32 orgId = _organisationIds[_organisationIndexOf(msg.sender)];
        if (msg.sender == _organisations[orgId].admin) revert QualityLedgerCannotRemoveAdmin(orgId, msg.sender);
        m.active = false;
        emit MemberLeft(orgId, msg.sender);
    }

    /// @inheritdoc IQualityLedger
    function removeMember(bytes32 orgId, address account) external {
        OrganisationRecord storage org = _organisationAdminOnly(orgId, false);
        Membership storage m = _members[account];
        if (!m.active || m.org != org.index) revert QualityLedgerNotMember(orgId, account);
        if (account == org.admin) revert QualityLedgerCannotRemoveAdmin(orgId, account);
        // The affiliation stays (see Membership): the account may rejoin this organisation, never another.
        m.active = false;
        emit MemberRemoved(orgId, account);
    }

    /// @inheritdoc IQualityLedger
    function transferOrganisationAdmin(bytes32 orgId, address newAdmin) external {
        OrganisationRecord storage org = _organisationAdminOnly(orgId, true);
        if (newAdmin == address(0)) revert QualityLedgerZeroAddress();
        // Only a member that accepted may be handed the organisation: nobody is made an admin (and so a
        // member, and affiliated for good) without its consent.
        Membership storage m = _members[newAdmin];
        if (!m.active || m.org != org.index) revert QualityLedgerNotMember(orgId, newAdmin);

        address previousAdmin = org.admin;
        org.admin = newAdmin;
        emit OrganisationAdminTransferred(orgId, previousAdmin, newAdmin);
    }

    // ---------------------------------------------------------------- inspectors

    /// @inheritdoc IQualityLedger
    function accredit(address account, bytes32 orgId, uint40 validUntil) external onlyRole(ACCREDITOR_ROLE) {
        if (account == address(0)) revert QualityLedgerZeroAddress();
        uint32 orgIndex = _existingOrganisation(orgId).index;
        if (validUntil <= block.timestamp) revert QualityLedgerInvalidValidity(validUntil);
        InspectorRecord storage record = _inspectors[account];
        InspectorStatus status = record.status;
        if (status != InspectorStatus.None) {
            if (record.org != orgIndex) {
                revert QualityLedgerInspectorOfOtherOrganisation(account, _organisationIds[record.org]);
            }
            if (status != InspectorStatus.Accredited) revert QualityLedgerUnexpectedInspectorStatus(account, status);
        }
        // The nonce carries over a renewal: resetting it would make used signatures valid again.
        _inspectors[account] = InspectorRecord({
            org: orgIndex,
            status: InspectorStatus.Accredited,
            since: _now(),
            validUntil: validUntil,
            nonce: record.nonce
        });
        emit InspectorAccredited(account, orgId, validUntil);
    }

    /// @inheritdoc IQualityLedger
    function suspend(address account) external onlyRole(ACCREDITOR_ROLE) {
        bytes32 orgId = _moveInspector(account, InspectorStatus.Accredited, InspectorStatus.Suspended);
        emit InspectorSuspended(account, orgId);
    }

    /// @inheritdoc IQualityLedger
    function restore(address account) external onlyRole(ACCREDITOR_ROLE) {
        bytes32 orgId = _moveInspector(account, InspectorStatus.Suspended, InspectorStatus.Accredited);
        emit InspectorRestored(account, orgId);
    }

    /// @inheritdoc IQualityLedger
    function revoke(address account) external onlyRole(ACCREDITOR_ROLE) {
        InspectorStatus status = _inspectors[account].status;
        // Revoking applies to both live states; pick the one the inspector is in.
        InspectorStatus from = status == InspectorStatus.Suspended ? status : InspectorStatus.Accredited;
        bytes32 orgId = _moveInspector(account, from, InspectorStatus.Revoked);
        emit InspectorRevoked(account, orgId);
    }

    // ---------------------------------------------------------------- lots

    /// @inheritdoc IQualityLedger
    function registerLot(
        bytes32 lotId,
        bytes32 productId,
        uint64 quantity,
        bytes32 dataCommitment,
        bytes32[] calldata inputs
    ) external {
        uint32 producer = _organisationIndexOf(msg.sender);
        if (lotId == bytes32(0) || productId == bytes32(0)) revert QualityLedgerZeroId();
        LotRecord storage record = _lots[lotId];
        if (record.registeredAt != 0) revert QualityLedgerLotExists(lotId);
        if (quantity == 0) revert QualityLedgerZeroQuantity(lotId);
        uint256 count = inputs.length;
        if (count > MAX_INPUTS) revert QualityLedgerTooManyInputs(count, MAX_INPUTS);
        bytes32 previous;
        for (uint256 i = 0; i < count; ++i) {
            bytes32 input = inputs[i];
            // Ascending from a zero start also refuses the zero id; an input must already exist, so the
            // lineage can never contain a cycle.
            if (input <= previous) revert QualityLedgerInputsNotAscending(i);
            if (_lots[input].registeredAt == 0) revert QualityLedgerUnknownLot(input);
            previous = input;
        }

        record.producer = producer;
        record.quantity = quantity;
        record.registeredAt = _now();
        // count <= MAX_INPUTS = 32 fits in uint8.
        record.inputCount = uint8(count);
        record.productId = productId;
        record.lineageDigest = QualityLotLib.digest(dataCommitment, inputs);
        emit LotRegistered(lotId, _organisationIds[producer], productId, quantity, dataCommitment, inputs);
    }

    // ---------------------------------------------------------------- attestations and alerts

    /// @inheritdoc IQualityLedger
    function attest(Finding calldata finding) external returns (uint32) {
        uint32 inspectorOrg = _activeInspectorOrg(msg.sender);
        (LotRecord storage lotRecord, uint256 header) = _lotHeader(finding.lotId);
        return _record(finding, finding.uri, msg.sender, lotRecord, header | (uint256(inspectorOrg) << 224));
    }

    /// @inheritdoc IQualityLedger
    function attestBySig(
        Finding calldata finding,
        address account,
        uint64 nonce,
        uint40 deadline,
        bytes calldata signature
    ) external returns (uint32) {
        if (block.timestamp > deadline) revert QualityLedgerSignatureExpired(deadline);
        (LotRecord storage lotRecord, uint256 header) = _lotHeader(finding.lotId);
        // The inspector's organisation rides in the header's free top bits (see _record). The nonce is used up
        // before the signature is checked: the check may call the inspector's wallet (a static call), and a
        // failing check reverts the whole transaction anyway.
        header |= uint256(_useNonce(account, nonce)) << 224;
        string calldata uri = finding.uri;
        if (!_isValidSignature(account, _attestationDigest(finding, uri, account, nonce, deadline), signature)) {
            revert QualityLedgerInvalidSignature(account);
        }
        return _record(finding, uri, account, lotRecord, header);
    }

    /// @inheritdoc IQualityLedger
    function cancelSignedAttestations(uint64 upTo) external {
        InspectorRecord storage record = _inspectors[msg.sender];
        uint64 current = record.nonce;
        // A bounded step: reaching 2**64 would then take 2**32 calls, so the nonce never wraps (see _useNonce).
        if (upTo <= current || upTo - current > 1 << 32) {
            revert QualityLedgerInvalidNonceCancellation(msg.sender, upTo, current);
        }
        record.nonce = upTo;
        emit SignedAttestationsCancelled(msg.sender, current, upTo);
    }

    /// @inheritdoc IQualityLedger
    function raiseAlert(bytes32 lotId, Severity severity, bytes32 reportCommitment, string calldata uri)
        external
        returns (uint32 seq)
    {
        uint32 inspectorOrg = _activeInspectorOrg(msg.sender);
        LotRecord storage lotRecord = _existingLot(lotId);
        if (severity == Severity.None) revert QualityLedgerInvalidOutcome(Outcome.None, severity);
        seq = lotRecord.attestationCount + 1;
        lotRecord.attestationCount = seq;
        // An independent alert is the lot's latest independent record: it stops a receipt by inspection.
        if (inspectorOrg != lotRecord.producer) lotRecord.latestIndependent = seq;
        _attestations[lotId][seq] = AttestationRecord({
            inspectorOrg: inspectorOrg,
            outcome: Outcome.None,
            severity: severity,
            sampleSize: 0,
            defects: 0,
            attestedAt: _now(),
            supersedes: 0,
            supersededBy: 0,
            reportCommitment: reportCommitment
        });
        emit Attested(lotId, seq, msg.sender, Outcome.None, severity, 0, uri);
    }

    /// @inheritdoc IQualityLedger
    function acknowledge(bytes32 lotId, uint32 seq) external {
        uint32 orgIndex = _organisationIndexOf(msg.sender);
        AttestationRecord storage record = _existingAttestation(lotId, seq);
        if (record.severity == Severity.None) revert QualityLedgerNotAnAlert(lotId, seq);
        mapping(uint32 => uint40) storage acks = _acknowledgedAt[lotId][seq];
        bytes32 orgId = _organisationIds[orgIndex];
        if (acks[orgIndex] != 0) revert QualityLedgerAlreadyAcknowledged(lotId, seq, orgId);
        acks[orgIndex] = _now();
        emit AlertAcknowledged(lotId, seq, orgId, msg.sender);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IQualityLedger
    function organisation(bytes32 orgId) external view returns (Organisation memory) {
        OrganisationRecord memory record = _existingOrganisation(orgId);
        return Organisation({admin: record.admin, index: record.index, regulator: record.regulator});
    }

    /// @inheritdoc IQualityLedger
    function organisationOf(address account) external view returns (bytes32) {
        Membership storage m = _members[account];
        return m.active ? _organisationIds[m.org] : bytes32(0);
    }

    /// @inheritdoc IQualityLedger
    function affiliationOf(address account) external view returns (bytes32) {
        return _organisationIds[_members[account].org];
    }

    /// @inheritdoc IQualityLedger
    function invitationOf(address account) external view returns (bytes32) {
        return _organisationIds[_members[account].invitation];
    }

    /// @inheritdoc IQualityLedger
    function lastIndependentFailAt(bytes32 orgId) external view returns (uint40) {
        return _clocks[_existingOrganisation(orgId).index].lastIndependentFailAt;
    }

    /// @inheritdoc IQualityLedger
    function latestIndependent(bytes32 lotId) external view returns (uint32) {
        return _existingLot(lotId).latestIndependent;
    }

    /// @inheritdoc IQualityLedger
    function organisationCount() external view returns (uint32) {
        return _organisationCount;
    }

    /// @inheritdoc IQualityLedger
    function organisationAt(uint32 index) external view returns (bytes32) {
        return _organisationIds[index];
    }

    /// @inheritdoc IQualityLedger
    function inspector(address account) external view returns (Inspector memory) {
        InspectorRecord memory record = _inspectors[account];
        return Inspector({
            orgId: _organisationIds[record.org],
            status: record.status,
            since: record.since,
            validUntil: record.validUntil
        });
    }

    /// @inheritdoc IQualityLedger
    function attestationNonce(address account) external view returns (uint64) {
        return _inspectors[account].nonce;
    }

    /// @inheritdoc IQualityLedger
    function canAttest(address account) external view returns (bool) {
        InspectorRecord memory record = _inspectors[account];
        // An enum compared for equality: Slither's strict-equality warning is about balances and the like.
        // slither-disable-next-line incorrect-equality
        return record.status == InspectorStatus.Accredited && block.timestamp < record.validUntil;
    }

    /// @inheritdoc IQualityLedger
    function lot(bytes32 lotId) external view returns (Lot memory) {
        LotRecord memory record = _existingLot(lotId);
        return Lot({
            producer: _organisationIds[record.producer],
            productId: record.productId,
            quantity: record.quantity,
            registeredAt: record.registeredAt,
            inputCount: record.inputCount,
            attestationCount: record.attestationCount,
            lineageDigest: record.lineageDigest
        });
    }

    /// @inheritdoc IQualityLedger
    function attestation(bytes32 lotId, uint32 seq) external view returns (Attestation memory) {
        AttestationRecord memory record = _existingAttestation(lotId, seq);
        return Attestation({
            inspectorOrg: _organisationIds[record.inspectorOrg],
            outcome: record.outcome,
            severity: record.severity,
            sampleSize: record.sampleSize,
            defects: record.defects,
            attestedAt: record.attestedAt,
            supersedes: record.supersedes,
            supersededBy: record.supersededBy,
            independent: record.inspectorOrg != _lots[lotId].producer,
            reportCommitment: record.reportCommitment
        });
    }

    /// @inheritdoc IQualityLedger
    function acknowledgedAt(bytes32 lotId, uint32 seq, bytes32 orgId) external view returns (uint40) {
        return _acknowledgedAt[lotId][seq][_organisations[orgId].index];
    }

    /// @inheritdoc IQualityLedger
    function verifyLotData(bytes32 lotId, bytes32 dataCommitment, bytes32[] calldata inputs)
        external
        view
        returns (bool)
    {
        return _existingLot(lotId).lineageDigest == QualityLotLib.digest(dataCommitment, inputs);
    }

    /// @inheritdoc IQualityLedger
    function verifyReportField(
        bytes32 lotId,
        uint32 seq,
        string calldata name,
        bytes calldata value,
        bytes32 salt,
        bytes32[] calldata proof
    ) external view returns (bool) {
        bytes32 root = _existingAttestation(lotId, seq).reportCommitment;
        return DisclosureLib.verifyField(root, name, value, salt, proof);
    }

    /// @inheritdoc IQualityLedger
    function attestationDigest(Finding calldata finding, address account, uint64 nonce, uint40 deadline)
        external
        view
        returns (bytes32)
    {
        return _attestationDigest(finding, finding.uri, account, nonce, deadline);
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IQualityLedger).interfaceId || super.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------- internal

    /// @dev Appends `finding` (whose uri is `uri`) by `account` to the record of its lot `lotRecord` as number
    /// `seq`: the one path every attestation takes. `header` is the lot's header word (see _lotHeader) with the
    /// inspector's organisation in its free top bits [224, 256): one stack slot fewer, which attestBySig needs;
    /// they are cleared before the header is written back.
    function _record(
        Finding calldata finding,
        string calldata uri,
        address account,
        LotRecord storage lotRecord,
        uint256 header
    ) private returns (uint32 seq) {
        uint32 inspectorOrg = uint32(header >> 224);
        // Every access to a member of a calldata struct decodes and range-checks it again (~120 gas each), so
        // the members are read once, here, and everything after works from the packed word.
        uint256 word = _packedRecord(finding, inspectorOrg);
        _checkFinding(word, uint64(header >> 32));
        seq = uint32(header >> 144) + 1;
        bool independent = inspectorOrg != uint32(header);
        assembly ("memory-safe") {
            // The new attestationCount [144, 176) put into the header word, and for an independent record the new
            // latestIndependent [176, 208) too, written back whole (layout: _lotHeader). seq fits 32 bits.
            let mask := or(shl(224, 0xffffffff), shl(144, 0xffffffff))
            let bits := shl(144, seq)
            if independent {
                mask := or(shl(224, 0xffffffff), shl(144, 0xffffffffffffffff))
                bits := or(bits, shl(176, seq))
            }
            sstore(lotRecord.slot, or(and(header, not(mask)), bits))
        }
        bytes32 lotId = finding.lotId;
        uint32 supersedes = uint32(word >> 152);
        // The outcome of the record corrected (None when nothing is).
        uint8 corrected = supersedes != 0 ? _supersede(lotId, supersedes, seq, inspectorOrg) : 0;
        // An independent Fail starts the claimants' time (see _noteFailure); Outcome.Fail is 3. An enum compared
        // for equality (Slither taints it through the word, which also holds the block timestamp).
        // slither-disable-next-line incorrect-equality
        if (independent && uint8(word >> 32) == 3) _noteFailure(uint32(header), corrected);
        AttestationRecord storage record = _attestations[lotId][seq];
        // One SSTORE of the whole first slot instead of one per member (the legacy code generator writes a
        // struct member by member); _packedRecord follows AttestationRecord's layout exactly.
        assembly ("memory-safe") {
            sstore(record.slot, word)
        }
        record.reportCommitment = finding.reportCommitment;
        _emitAttested(finding, uri, seq, account, word);
    }

    /// @dev Starts the claimants' time after an independent Fail against organisation `producer`: QualityBonds
    /// freezes its withdrawals for WITHDRAWAL_DELAY after it. A Fail that only corrects a Fail (`corrected`, the
    /// outcome of the record it supersedes) does not: that failure was already public, and its claims move onto
    /// the correction without unlocking (QualityBonds.fileClaim).
    function _noteFailure(uint32 producer, uint8 corrected) private {
        if (corrected != uint8(Outcome.Fail)) _clocks[producer].lastIndependentFailAt = _now();
    }

    /// @dev Attested for `finding`, its members taken from the packed record `word` rather than decoded again.
    function _emitAttested(Finding calldata finding, string calldata uri, uint32 seq, address account, uint256 word)
        private
    {
        emit Attested(
            finding.lotId,
            seq,
            account,
            Outcome(uint8(word >> 32)),
            Severity(uint8(word >> 40)),
            uint32(word >> 152),
            uri
        );
    }

    /// @dev The first slot of a new AttestationRecord for `finding`, packed as Solidity lays the struct out:
    /// members in declaration order from the low-order bits: inspectorOrg [0, 32), outcome [32, 40),
    /// severity [40, 48), sampleSize [48, 80), defects [80, 112), attestedAt [112, 152), supersedes [152, 184),
    /// supersededBy [184, 216) = 0. tests/contracts/test_quality_ledger.py pins the layout and reads every member
    /// back. The five small members are read straight from the head of `finding` and range-checked together:
    /// each member accessor would run the ABI decoder's check on its own (~100 gas apiece). A value out of range
    /// reverts without data, as the decoder's check does.
    function _packedRecord(Finding calldata finding, uint32 inspectorOrg) private view returns (uint256 word) {
        // Widened here: inline assembly may not assume the bits above a narrow type are clean.
        uint256 fixedPart = uint256(inspectorOrg) | (uint256(_now()) << 112);
        assembly ("memory-safe") {
            let outcome := calldataload(add(finding, 0x20))
            let severity := calldataload(add(finding, 0x40))
            let sampleSize := calldataload(add(finding, 0x60))
            let defects := calldataload(add(finding, 0x80))
            let supersedes := calldataload(add(finding, 0xa0))
            // Outcome and Severity have four members (0..3), so either above 3 leaves a bit above 3 in the or;
            // the counts are uint32.
            if or(gt(or(outcome, severity), 3), shr(32, or(sampleSize, or(defects, supersedes)))) { revert(0, 0) }
            word := or(
                or(or(fixedPart, shl(32, outcome)), or(shl(40, severity), shl(48, sampleSize))),
                or(shl(80, defects), shl(152, supersedes))
            )
        }
    }

    /// @dev Outcome, severity and counts of a packed record fit each other and a lot of `quantity` units.
    function _checkFinding(uint256 word, uint64 quantity) private pure {
        Outcome outcome = Outcome(uint8(word >> 32));
        Severity severity = Severity(uint8(word >> 40));
        // A Pass carries no severity; a Conditional or Fail, and an explicit alert (None), carry one. Enums compared
        // for equality (Slither taints them through the word, which also holds the block timestamp).
        // slither-disable-next-line incorrect-equality
        if ((outcome == Outcome.Pass) != (severity == Severity.None)) {
            revert QualityLedgerInvalidOutcome(outcome, severity);
        }
        uint32 sampleSize = uint32(word >> 48);
        uint32 defects = uint32(word >> 80);
        if (defects > sampleSize) revert QualityLedgerDefectsExceedSample(defects, sampleSize);
        if (sampleSize > quantity) revert QualityLedgerSampleExceedsLot(sampleSize, quantity);
    }

    /// @dev Marks attestation `seq` of `lotId` superseded by `bySeq`, made by an inspector of `byOrg`; returns the
    /// outcome of the record it corrects.
    function _supersede(bytes32 lotId, uint32 seq, uint32 bySeq, uint32 byOrg) private returns (uint8 outcome) {
        // seq < bySeq always holds for an existing attestation: bySeq is the next number.
        if (seq >= bySeq) revert QualityLedgerUnknownAttestation(lotId, seq);
        AttestationRecord storage previous = _attestations[lotId][seq];
        // The first slot read and written whole (see _packedRecord for its layout): one SLOAD and one SSTORE.
        uint256 word;
        assembly ("memory-safe") {
            word := sload(previous.slot)
        }
        uint32 supersededBy = uint32(word >> 184);
        if (supersededBy != 0) revert QualityLedgerAlreadySuperseded(lotId, seq, supersededBy);
        uint32 org = uint32(word);
        if (org != byOrg) revert QualityLedgerCorrectionByOtherOrganisation(lotId, seq, _organisationIds[org]);
        word |= uint256(bySeq) << 184;
        assembly ("memory-safe") {
            sstore(previous.slot, word)
        }
        outcome = uint8(word >> 32);
    }

    /// @dev The organisation index of an inspector that may attest now; reverts otherwise.
    function _activeInspectorOrg(address account) private view returns (uint32) {
        (, uint256 word) = _activeInspector(account);
        return uint32(word);
    }

    /// @dev The record of an inspector that may attest now and its slot read whole, where the legacy code
    /// generator reads a struct member by member (or copies it to memory): org [0, 32), status [32, 40),
    /// since [40, 80), validUntil [80, 120), nonce [120, 184). Reverts for any other account.
    function _activeInspector(address account) private view returns (InspectorRecord storage record, uint256 word) {
        record = _inspectors[account];
        assembly ("memory-safe") {
            word := sload(record.slot)
        }
        InspectorStatus status = InspectorStatus(uint8(word >> 32));
        if (status != InspectorStatus.Accredited) revert QualityLedgerInspectorNotAccredited(account, status);
        uint40 validUntil = uint40(word >> 80);
        if (block.timestamp >= validUntil) revert QualityLedgerAccreditationExpired(account, validUntil);
    }

    /// @dev Uses up `nonce`, which must be the next nonce of `account`, an inspector that may attest now; returns
    /// its organisation index. One read of the inspector's slot serves the accreditation check and the nonce,
    /// and the slot is rewritten whole with the nonce one higher.
    function _useNonce(address account, uint64 nonce) private returns (uint32) {
        (InspectorRecord storage record, uint256 word) = _activeInspector(account);
        uint64 expected = uint64(word >> 120);
        if (nonce != expected) revert QualityLedgerInvalidNonce(account, nonce, expected);
        assembly ("memory-safe") {
            // nonce + 1 in bits [120, 184). It cannot carry into bit 184: the nonce grows by one per relayed
            // attestation and by at most 2**32 per cancellation, so 2**64 - 1 is out of reach.
            sstore(record.slot, add(word, shl(120, 1)))
        }
        return uint32(word);
    }

    /// @dev Moves an inspector from status `from` to `to`; returns its organisation id.
    function _moveInspector(address account, InspectorStatus from, InspectorStatus to) private returns (bytes32) {
        InspectorRecord storage record = _inspectors[account];
        InspectorStatus status = record.status;
        if (status != from) revert QualityLedgerUnexpectedInspectorStatus(account, status);
        record.status = to;
        record.since = _now();
        return _organisationIds[record.org];
    }

    /// @dev ECDSA first (no code-size lookup for the common EOA inspector), then ERC-1271 for a contract.
    function _isValidSignature(address account, bytes32 digest, bytes calldata signature)
        private
        view
        returns (bool)
    {
        if (signature.length == 65) {
            // r, s, v read straight from calldata, as ECDSA.tryRecover(bytes) reads them from memory.
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly ("memory-safe") {
                r := calldataload(signature.offset)
                s := calldataload(add(signature.offset, 0x20))
                v := byte(0, calldataload(add(signature.offset, 0x40)))
            }
            // The third value only details `error`, which is checked.
            // slither-disable-next-line unused-return
            (address recovered, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, v, r, s);
            if (error == ECDSA.RecoverError.NoError && recovered == account) return true;
        }
        return account.code.length != 0 && SignatureChecker.isValidERC1271SignatureNow(account, digest, signature);
    }

    /// @dev hashStruct(Attestation) per EIP-712, then the typed-data digest. The first seven members are
    /// static words at the head of `finding` in calldata, in the type's order, so they are copied as they are
    /// (no per-member encoding, no allocation). A word with dirty high bits cannot slip through: the digest would
    /// not match what the inspector signed, and _packedRecord range-checks every member it stores.
    function _attestationDigest(
        Finding calldata finding,
        string calldata uri,
        address account,
        uint64 nonce,
        uint40 deadline
    ) private view returns (bytes32) {
        bytes32 typehash = _ATTESTATION_TYPEHASH;
        bytes32 uriHash = keccak256(bytes(uri));
        bytes32 structHash;
        assembly ("memory-safe") {
            // Scratch use of free memory without moving the free memory pointer: nothing else is allocated
            // between writing and hashing.
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), finding, 0xe0) // lotId .. reportCommitment
            mstore(add(ptr, 0x100), uriHash)
            mstore(add(ptr, 0x120), account)
            mstore(add(ptr, 0x140), nonce)
            mstore(add(ptr, 0x160), deadline)
            structHash := keccak256(ptr, 0x180)
        }
        return _hashTypedDataV4(structHash);
    }

    /// @dev The organisation index of a member account; reverts for an account of no organisation.
    function _organisationIndexOf(address account) private view returns (uint32 index) {
        Membership storage m = _members[account];
        if (!m.active) revert QualityLedgerNoOrganisation(account);
        index = m.org;
    }

    /// @dev `account` (standing `m`) may become a member of organisation `index`: it is a member of none now,
    /// and not affiliated with another.
    function _requireJoinable(Membership storage m, address account, uint32 index) private view {
        uint32 org = m.org;
        if (m.active) revert QualityLedgerAlreadyMember(account, _organisationIds[org]);
        if (org != 0 && org != index) revert QualityLedgerAffiliatedElsewhere(account, _organisationIds[org]);
    }

    function _existingOrganisation(bytes32 orgId) private view returns (OrganisationRecord storage org) {
        org = _organisations[orgId];
        if (org.index == 0) revert QualityLedgerUnknownOrganisation(orgId);
    }

    /// @dev An organisation the caller administers (or, with `accreditorToo`, may recover as accreditor).
    function _organisationAdminOnly(bytes32 orgId, bool accreditorToo)
        private
        view
        returns (OrganisationRecord storage org)
    {
        org = _existingOrganisation(orgId);
        if (msg.sender != org.admin && !(accreditorToo && hasRole(ACCREDITOR_ROLE, msg.sender))) {
            revert QualityLedgerNotOrganisationAdmin(orgId, msg.sender);
        }
    }

    function _existingLot(bytes32 lotId) private view returns (LotRecord storage record) {
        record = _lots[lotId];
        if (record.registeredAt == 0) revert QualityLedgerUnknownLot(lotId);
    }

    /// @dev An existing lot's record and its first slot read whole (one SLOAD, where the legacy code generator
    /// reads a packed struct member by member): producer [0, 32), quantity [32, 96), registeredAt [96, 136),
    /// inputCount [136, 144), attestationCount [144, 176), latestIndependent [176, 208).
    function _lotHeader(bytes32 lotId) private view returns (LotRecord storage record, uint256 header) {
        record = _lots[lotId];
        assembly ("memory-safe") {
            header := sload(record.slot)
        }
        if (uint40(header >> 96) == 0) revert QualityLedgerUnknownLot(lotId);
    }

    function _existingAttestation(bytes32 lotId, uint32 seq) private view returns (AttestationRecord storage) {
        uint32 count = _existingLot(lotId).attestationCount;
        if (seq == 0 || seq > count) revert QualityLedgerUnknownAttestation(lotId, seq);
        return _attestations[lotId][seq];
    }

    /// @dev The block timestamp as stored; uint40 seconds last until the year 36812.
    function _now() private view returns (uint40) {
        return SafeCast.toUint40(block.timestamp);
    }
}
