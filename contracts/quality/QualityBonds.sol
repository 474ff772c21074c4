// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IQualityBonds} from "../interfaces/IQualityBonds.sol";
import {IQualityLedger} from "../interfaces/IQualityLedger.sol";
import {QualityLotLib} from "./QualityLotLib.sol";

/// @title QualityBonds
/// @notice Quality bonds per supplier and product line, and claims paid from them on the ledger's facts.
/// See IQualityBonds and docs/contracts/quality.md.
/// @dev Every function that moves tokens is nonReentrant and follows checks-effects-interactions: ledger reads
/// (views) and checks, then state and events, then the single token transfer.
contract QualityBonds is IQualityBonds, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    /// @dev Bond state. balance and locked share a slot; terms and pending terms a slot each.
    struct BondRecord {
        uint128 balance;
        uint128 locked;
        Terms terms;
        Terms pendingTerms;
        uint40 termsEffectiveAt;
        uint128 withdrawalAmount;
        uint40 unlockAt;
        address withdrawalTo;
    }

    /// @dev Claim state. The packed tail: seq 32 + filedAt 40 + deadline 40 + status 8 + amount 128.
    struct ClaimRecord {
        bytes32 lotId;
        bytes32 supplier;
        bytes32 productId;
        bytes32 claimant;
        bytes32 consumerLot;
        uint32 seq;
        uint40 filedAt;
        uint40 deadline;
        ClaimStatus status;
        uint128 amount;
        uint128 paid;
    }

    /// @inheritdoc IQualityBonds
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");

    /// @inheritdoc IQualityBonds
    IQualityLedger public immutable LEDGER;

    /// @inheritdoc IQualityBonds
    address public immutable TOKEN;

    /// @inheritdoc IQualityBonds
    uint32 public immutable WITHDRAWAL_DELAY;

    /// @inheritdoc IQualityBonds
    uint256 public constant MAX_CORRECTION_HOPS = 8;

    mapping(bytes32 orgId => mapping(bytes32 productId => BondRecord)) private _bonds;
    mapping(uint256 claimId => ClaimRecord) private _claims;
    uint256 private _claimCount;
    mapping(bytes32 lotId => mapping(bytes32 claimant => uint256 claimId)) private _claimOf;

    /// @param admin Account granted DEFAULT_ADMIN_ROLE and ARBITER_ROLE.
    /// @param ledger The QualityLedger whose facts claims rest on.
    /// @param token The settlement token (plain ERC-20: no transfer fees, no rebasing).
    /// @param withdrawalDelay Seconds withdrawals and terms changes wait, and a withdrawal's execution window
    /// after that; longer than any dispute window a buyer would accept. Non-zero.
    constructor(address admin, IQualityLedger ledger, address token, uint32 withdrawalDelay) {
        // The delay is also the execution window (executeWithdrawal): zero would leave no second to execute in.
        if (withdrawalDelay == 0) revert QualityBondsZeroWithdrawalDelay();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ARBITER_ROLE, admin);
        LEDGER = ledger;
        TOKEN = token;
        WITHDRAWAL_DELAY = withdrawalDelay;
    }

    // ---------------------------------------------------------------- bonds

    /// @inheritdoc IQualityBonds
    function deposit(bytes32 orgId, bytes32 productId, uint256 amount) external nonReentrant {
        _deposit(orgId, productId, amount);
    }

    /// @inheritdoc IQualityBonds
    function depositWithPermit(
        bytes32 orgId,
        bytes32 productId,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant {
        // A permit someone front-ran is already spent; the allowance it set is what counts, so a failed
        // permit is ignored and the transfer below decides (OpenZeppelin's recommended pattern).
        try IERC20Permit(TOKEN).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _deposit(orgId, productId, amount);
    }

    /// @inheritdoc IQualityBonds
    function setTerms(bytes32 orgId, bytes32 productId, Terms calldata terms) external {
        _requireAdmin(orgId);
        if (terms.penaltyPerDefect == 0 || terms.claimCap == 0 || terms.disputeWindow == 0) {
            revert QualityBondsInvalidTerms(terms.penaltyPerDefect, terms.claimCap, terms.disputeWindow);
        }
        BondRecord storage record = _bonds[orgId][productId];
        if (record.terms.disputeWindow != 0) {
            // A change waits out the claimants' time after a failure, as a withdrawal does: the terms that failure
            // was attested under (which price its claims, see _openClaim) must not be promoted away meanwhile.
            uint40 frozenUntil = _frozenUntil(orgId);
            if (block.timestamp < frozenUntil) revert QualityBondsTermsFrozen(orgId, productId, frozenUntil);
        }
        _promoteDueTerms(record);
        uint40 effectiveAt;
        if (record.terms.disputeWindow == 0) {
            // A bond's first terms apply at once: nobody can have relied on absent terms.
            effectiveAt = _now();
            record.terms = terms;
        } else {
            effectiveAt = _now() + WITHDRAWAL_DELAY;
            record.pendingTerms = terms;
            record.termsEffectiveAt = effectiveAt;
        }
        emit TermsSet(orgId, productId, terms.penaltyPerDefect, terms.claimCap, terms.disputeWindow, effectiveAt);
    }

    /// @inheritdoc IQualityBonds
    function requestWithdrawal(bytes32 orgId, bytes32 productId, uint256 amount, address to) external {
        _requireAdmin(orgId);
        if (amount == 0) revert QualityBondsZeroAmount();
        if (to == address(0)) revert QualityBondsZeroAddress();
        BondRecord storage record = _bonds[orgId][productId];
        uint256 free = record.balance - record.locked;
        if (amount > free) revert QualityBondsInsufficientFreeBond(orgId, productId, free, amount);

        uint40 unlockAt = _now() + WITHDRAWAL_DELAY;
        // amount <= free <= balance, a uint128.
        record.withdrawalAmount = uint128(amount);
        record.withdrawalTo = to;
        record.unlockAt = unlockAt;
        emit WithdrawalRequested(orgId, productId, to, amount, unlockAt);
    }

    /// @inheritdoc IQualityBonds
    function cancelWithdrawal(bytes32 orgId, bytes32 productId) external {
        _requireAdmin(orgId);
        BondRecord storage record = _bonds[orgId][productId];
        uint256 amount = record.withdrawalAmount;
        if (amount == 0) revert QualityBondsNoPendingWithdrawal(orgId, productId);
        _clearWithdrawal(record);
        emit WithdrawalCancelled(orgId, productId, amount);
    }

    /// @inheritdoc IQualityBonds
    function executeWithdrawal(bytes32 orgId, bytes32 productId) external nonReentrant {
        BondRecord storage record = _bonds[orgId][productId];
        uint128 amount = record.withdrawalAmount;
        if (amount == 0) revert QualityBondsNoPendingWithdrawal(orgId, productId);
        uint40 unlockAt = record.unlockAt;
        if (block.timestamp < unlockAt) revert QualityBondsWithdrawalLocked(orgId, productId, unlockAt);
        // A request expires: one made long ago cannot be held ready for the block after a failure.
        uint40 expiredAt = unlockAt + WITHDRAWAL_DELAY;
        if (block.timestamp >= expiredAt) revert QualityBondsWithdrawalExpired(orgId, productId, expiredAt);
        // Claimants get WITHDRAWAL_DELAY after every new independent failure of the supplier to file.
        uint40 frozenUntil = _frozenUntil(orgId);
        if (block.timestamp < frozenUntil) revert QualityBondsWithdrawalFrozen(orgId, productId, frozenUntil);
        uint128 free = record.balance - record.locked;
        if (amount > free) revert QualityBondsInsufficientFreeBond(orgId, productId, free, amount);

        address to = record.withdrawalTo;
        // Cannot underflow: amount <= free <= balance.
        unchecked {
            record.balance -= amount;
        }
        _clearWithdrawal(record);
        emit BondWithdrawn(orgId, productId, to, amount);
        IERC20(TOKEN).safeTransfer(to, amount);
    }

    // ---------------------------------------------------------------- claims

    /// @inheritdoc IQualityBonds
    function fileClaim(
        bytes32 lotId,
        uint32 seq,
        bytes32 consumerLot,
        bytes32 consumerDataCommitment,
        bytes32[] calldata consumerInputs
    ) external returns (uint256 claimId) {
        bytes32 claimant = LEDGER.organisationOf(msg.sender);
        if (claimant == bytes32(0)) revert QualityBondsNotMember(claimant, msg.sender);
        (ClaimRecord memory draft, uint32 defects, uint40 attestedAt) = _claimBasis(lotId, seq, claimant);
        _requireConsumption(claimant, lotId, consumerLot, consumerDataCommitment, consumerInputs);
        draft.consumerLot = consumerLot;
        claimId = _openClaim(draft, defects, attestedAt);
    }

    /// @inheritdoc IQualityBonds
    function acceptClaim(uint256 claimId) external nonReentrant {
        ClaimRecord storage record = _existingClaim(claimId);
        _requireAdmin(record.supplier);
        ClaimStatus status = record.status;
        if (status != ClaimStatus.Filed && status != ClaimStatus.Disputed) {
            revert QualityBondsUnexpectedClaimStatus(claimId, status);
        }
        uint128 amount = record.amount;
        _pay(claimId, _close(record, amount), amount);
    }

    /// @inheritdoc IQualityBonds
    function disputeClaim(uint256 claimId, bytes32 reasonCommitment) external {
        ClaimRecord storage record = _existingClaim(claimId);
        _requireMember(record.supplier);
        _requireStatus(claimId, record, ClaimStatus.Filed);
        if (block.timestamp >= record.deadline) revert QualityBondsDisputeWindowClosed(claimId, record.deadline);
        record.status = ClaimStatus.Disputed;
        emit ClaimDisputed(claimId, msg.sender, reasonCommitment);
    }

    /// @inheritdoc IQualityBonds
    function executeClaim(uint256 claimId) external nonReentrant {
        ClaimRecord storage record = _existingClaim(claimId);
        _requireStatus(claimId, record, ClaimStatus.Filed);
        if (block.timestamp < record.deadline) revert QualityBondsDisputeWindowOpen(claimId, record.deadline);
        bytes32 lotId = record.lotId;
        uint32 supersededBy = LEDGER.attestation(lotId, record.seq).supersededBy;
        if (supersededBy != 0) {
            // The failure was corrected and nobody disputed or accepted in the window: the claim closes unpaid
            // rather than lock the bond for good; its claimant may file again on the correction. A recount (a
            // correction chain ending in a current Fail) leaves the claimant WITHDRAWAL_DELAY after its latest
            // record to do so first: lapsing at once would free the amount for a withdrawal in the same block,
            // before the claimant could move.
            uint40 lapsesAt = _recountLapsesAt(lotId, supersededBy);
            if (block.timestamp < lapsesAt) revert QualityBondsCorrectionPending(claimId, lapsesAt);
            _lapse(claimId, record, supersededBy);
            return;
        }
        uint128 amount = record.amount;
        _pay(claimId, _close(record, amount), amount);
    }

    /// @inheritdoc IQualityBonds
    function ruleClaim(uint256 claimId, uint256 awarded, bytes32 rulingCommitment)
        external
        nonReentrant
        onlyRole(ARBITER_ROLE)
    {
        ClaimRecord storage record = _existingClaim(claimId);
        _requireStatus(claimId, record, ClaimStatus.Disputed);
        uint128 amount = record.amount;
        if (awarded > amount) revert QualityBondsAwardExceedsClaim(claimId, awarded, amount);
        // awarded <= amount, a uint128.
        address to = _close(record, uint128(awarded));
        emit ClaimRuled(claimId, msg.sender, awarded, rulingCommitment);
        _pay(claimId, to, awarded);
    }

    /// @inheritdoc IQualityBonds
    function withdrawClaim(uint256 claimId) external {
        ClaimRecord storage record = _existingClaim(claimId);
        _requireMember(record.claimant);
        ClaimStatus status = record.status;
        if (status != ClaimStatus.Filed && status != ClaimStatus.Disputed) {
            revert QualityBondsUnexpectedClaimStatus(claimId, status);
        }
        record.status = ClaimStatus.Withdrawn;
        _bonds[record.supplier][record.productId].locked -= record.amount;
        emit ClaimWithdrawn(claimId, msg.sender);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IQualityBonds
    function bond(bytes32 orgId, bytes32 productId) external view returns (Bond memory) {
        BondRecord storage record = _bonds[orgId][productId];
        Terms memory terms = _currentTerms(record);
        bool pending = record.termsEffectiveAt != 0 && block.timestamp < record.termsEffectiveAt;
        return Bond({
            balance: record.balance,
            locked: record.locked,
            terms: terms,
            pendingTerms: pending ? record.pendingTerms : Terms(0, 0, 0),
            termsEffectiveAt: pending ? record.termsEffectiveAt : 0,
            withdrawalAmount: record.withdrawalAmount,
            withdrawalTo: record.withdrawalTo,
            unlockAt: record.unlockAt
        });
    }

    /// @inheritdoc IQualityBonds
    function termsOf(bytes32 orgId, bytes32 productId) external view returns (Terms memory) {
        return _currentTerms(_bonds[orgId][productId]);
    }

    /// @inheritdoc IQualityBonds
    function claim(uint256 claimId) external view returns (Claim memory) {
        ClaimRecord memory record = _existingClaim(claimId);
        return Claim({
            lotId: record.lotId,
            seq: record.seq,
            supplier: record.supplier,
            productId: record.productId,
            claimant: record.claimant,
            consumerLot: record.consumerLot,
            amount: record.amount,
            paid: record.paid,
            filedAt: record.filedAt,
            deadline: record.deadline,
            status: record.status
        });
    }

    /// @inheritdoc IQualityBonds
    function claimCount() external view returns (uint256) {
        return _claimCount;
    }

    /// @inheritdoc IQualityBonds
    function claimOf(bytes32 lotId, bytes32 claimant) external view returns (uint256) {
        return _claimOf[lotId][claimant];
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IQualityBonds).interfaceId || super.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------- internal

    function _deposit(bytes32 orgId, bytes32 productId, uint256 amount) private {
        if (amount == 0) revert QualityBondsZeroAmount();
        // Called for its revert (QualityLedgerUnknownOrganisation for an unregistered supplier), not its value.
        // slither-disable-next-line unused-return
        LEDGER.organisation(orgId);
        BondRecord storage record = _bonds[orgId][productId];
        record.balance += amount.toUint128();
        emit BondDeposited(orgId, productId, msg.sender, amount);
        IERC20(TOKEN).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev The claim `claimant` would file on attestation `seq` of `lotId`, with the attestation's defects and
    /// time, when that is a current, independent Fail on another organisation's lot; reverts otherwise.
    function _claimBasis(bytes32 lotId, uint32 seq, bytes32 claimant)
        private
        view
        returns (ClaimRecord memory draft, uint32 defects, uint40 attestedAt)
    {
        IQualityLedger.Lot memory supplierLot = LEDGER.lot(lotId);
        bytes32 supplier = supplierLot.producer;
        if (claimant == supplier) revert QualityBondsClaimAgainstOwnLot(lotId, claimant);
        IQualityLedger.Attestation memory a = LEDGER.attestation(lotId, seq);
        if (a.outcome != IQualityLedger.Outcome.Fail) revert QualityBondsNotAFailure(lotId, seq, a.outcome);
        if (a.supersededBy != 0) revert QualityBondsAttestationSuperseded(lotId, seq, a.supersededBy);
        if (!a.independent) revert QualityBondsAttestationNotIndependent(lotId, seq, supplier);
        draft.lotId = lotId;
        draft.seq = seq;
        draft.supplier = supplier;
        draft.productId = supplierLot.productId;
        draft.claimant = claimant;
        defects = a.defects;
        attestedAt = a.attestedAt;
    }

    /// @dev Prices `draft` on the terms in force when its failure was attested (`attestedAt`), locks the amount
    /// and stores the claim. A pending change that took effect after the failure does not count: set before it, it
    /// could otherwise be timed to cheapen every claim on it (setTerms cannot promote it meanwhile: frozen).
    function _openClaim(ClaimRecord memory draft, uint32 defects, uint40 attestedAt)
        private
        returns (uint256 claimId)
    {
        uint256 previous = _claimOf[draft.lotId][draft.claimant];
        if (previous != 0) _replacePrevious(draft, previous);
        BondRecord storage record = _bonds[draft.supplier][draft.productId];
        uint40 effectiveAt = record.termsEffectiveAt;
        Terms memory terms = effectiveAt != 0 && attestedAt >= effectiveAt ? record.pendingTerms : record.terms;
        if (terms.disputeWindow == 0) revert QualityBondsNoTerms(draft.supplier, draft.productId);
        uint256 computed = uint256(defects) * terms.penaltyPerDefect;
        if (computed > terms.claimCap) computed = terms.claimCap;
        uint128 free = record.balance - record.locked;
        // The smaller of the two, so it fits uint128 like free.
        uint128 amount = computed < free ? uint128(computed) : free;
        if (amount == 0) revert QualityBondsNothingToClaim(draft.lotId, draft.seq, computed, free);

        claimId = ++_claimCount;
        uint40 now_ = _now();
        // A claim moving onto a correction keeps its first filing time (_replacePrevious); its window starts now.
        if (draft.filedAt == 0) draft.filedAt = now_;
        draft.deadline = now_ + terms.disputeWindow;
        draft.status = ClaimStatus.Filed;
        draft.amount = amount;
        record.locked += amount;
        _claimOf[draft.lotId][draft.claimant] = claimId;
        _claims[claimId] = draft;
        _emitClaimFiled(claimId, draft);
    }

    /// @dev The claimant's earlier claim `previousId` on the same lot gives way to `draft`: it must have been
    /// withdrawn or have lapsed, or be a filed claim whose attestation was corrected (it lapses now, in the same
    /// transaction as the new claim locks, so the supplier never sees the amount free in between). A claim that
    /// moves onto the correction of the previous one's attestation takes over its filedAt.
    function _replacePrevious(ClaimRecord memory draft, uint256 previousId) private {
        ClaimRecord storage previous = _claims[previousId];
        ClaimStatus status = previous.status;
        if (status == ClaimStatus.Withdrawn) return;
        bytes32 lotId = previous.lotId;
        if (status == ClaimStatus.Lapsed) {
            // Filed on a record correcting the lapsed claim's: the same claim, moved late.
            uint32 correction = LEDGER.attestation(lotId, previous.seq).supersededBy;
            if (_isRecountOf(lotId, correction, draft.seq)) draft.filedAt = previous.filedAt;
            return;
        }
        if (status == ClaimStatus.Filed && previous.seq != draft.seq) {
            uint32 supersededBy = LEDGER.attestation(lotId, previous.seq).supersededBy;
            if (supersededBy != 0) {
                // A claim moved onto a correction keeps its place (a settlement's warranty counts from filedAt);
                // one on another failure of the lot is a new claim with its own.
                if (_isRecountOf(lotId, supersededBy, draft.seq)) draft.filedAt = previous.filedAt;
                _lapse(previousId, previous, supersededBy);
                return;
            }
        }
        revert QualityBondsDuplicateClaim(draft.lotId, draft.claimant, previousId);
    }

    /// @dev When a claim whose basis record `correction` of `lotId` corrected may lapse: WITHDRAWAL_DELAY after the
    /// latest record of the correction chain when the chain ends in a current Fail (a recount the claimant may
    /// move its claim onto), else at once (0). The chain is followed along supersededBy for at most
    /// MAX_CORRECTION_HOPS records; past that, the last record reached (the latest known) dates the recount.
    function _recountLapsesAt(bytes32 lotId, uint32 correction) private view returns (uint40) {
        // slither-disable-next-line uninitialized-local
        IQualityLedger.Attestation memory a;
        for (uint256 hop = 0; hop < MAX_CORRECTION_HOPS; ++hop) {
            a = LEDGER.attestation(lotId, correction);
            correction = a.supersededBy;
            if (correction == 0) {
                return a.outcome == IQualityLedger.Outcome.Fail ? a.attestedAt + WITHDRAWAL_DELAY : 0;
            }
        }
        return a.attestedAt + WITHDRAWAL_DELAY;
    }

    /// @dev Whether record `seq` of `lotId` is `correction` (the record that corrected a claim's basis; 0: none) or
    /// a later correction of it, following supersededBy for at most MAX_CORRECTION_HOPS records. A correction always
    /// has a higher seq than what it corrects, so the walk stops as soon as it reaches `seq` or passes it. Past the
    /// bound the answer is no: the new claim then counts from its own filing, which is never earlier than the truth.
    function _isRecountOf(bytes32 lotId, uint32 correction, uint32 seq) private view returns (bool) {
        for (uint256 hop = 0; hop < MAX_CORRECTION_HOPS; ++hop) {
            if (correction == 0 || correction >= seq) return correction == seq;
            correction = LEDGER.attestation(lotId, correction).supersededBy;
        }
        return false;
    }

    /// @dev Closes a filed claim unpaid because attestation `supersededBy` corrected its basis.
    function _lapse(uint256 claimId, ClaimRecord storage record, uint32 supersededBy) private {
        record.status = ClaimStatus.Lapsed;
        _bonds[record.supplier][record.productId].locked -= record.amount;
        emit ClaimLapsed(claimId, supersededBy);
    }

    function _emitClaimFiled(uint256 claimId, ClaimRecord memory c) private {
        emit ClaimFiled(claimId, c.lotId, c.claimant, c.seq, c.supplier, c.productId, c.amount, c.deadline);
    }

    /// @dev Effects of closing a claim that pays `payout` (<= amount): unlocks the whole amount, takes the payout
    /// from the balance, sets the final status. Returns the payee, the claimant's admin now.
    function _close(ClaimRecord storage record, uint128 payout) private returns (address to) {
        to = LEDGER.organisation(record.claimant).admin;
        BondRecord storage bondRecord = _bonds[record.supplier][record.productId];
        // Cannot underflow: the amount was locked out of the balance when filed and stays locked until here,
        // and payout <= amount.
        unchecked {
            bondRecord.locked -= record.amount;
            bondRecord.balance -= payout;
        }
        record.paid = payout;
        record.status = payout == 0 ? ClaimStatus.Rejected : ClaimStatus.Paid;
    }

    /// @dev The interaction that ends every paying path: event, then the transfer.
    function _pay(uint256 claimId, address to, uint256 payout) private {
        if (payout == 0) return;
        emit ClaimPaid(claimId, to, payout);
        IERC20(TOKEN).safeTransfer(to, payout);
    }

    /// @dev `claimant` produced `consumerLot`, whose proven inputs include `lotId`.
    function _requireConsumption(
        bytes32 claimant,
        bytes32 lotId,
        bytes32 consumerLot,
        bytes32 dataCommitment,
        bytes32[] calldata inputs
    ) private view {
        IQualityLedger.Lot memory consumer = LEDGER.lot(consumerLot);
        if (consumer.producer != claimant) revert QualityBondsNotLotProducer(consumerLot, claimant);
        if (consumer.lineageDigest != QualityLotLib.digest(dataCommitment, inputs)) {
            revert QualityBondsLineageMismatch(consumerLot);
        }
        // The digest binds the inputs the ledger checked strictly ascending, so binary search applies.
        if (!QualityLotLib.contains(inputs, lotId)) revert QualityBondsLotNotConsumed(consumerLot, lotId);
    }

    /// @dev The terms in force now: the pending ones once their time has come.
    function _currentTerms(BondRecord storage record) private view returns (Terms memory) {
        uint40 effectiveAt = record.termsEffectiveAt;
        if (effectiveAt != 0 && block.timestamp >= effectiveAt) return record.pendingTerms;
        return record.terms;
    }

    /// @dev Makes due pending terms the current ones, so a new pending change cannot erase them.
    function _promoteDueTerms(BondRecord storage record) private {
        uint40 effectiveAt = record.termsEffectiveAt;
        if (effectiveAt != 0 && block.timestamp >= effectiveAt) {
            record.terms = record.pendingTerms;
            delete record.pendingTerms;
            record.termsEffectiveAt = 0;
        }
    }

    /// @dev The end of the claimants' time after the organisation's latest independent Fail (0: none yet):
    /// withdrawals and terms changes wait for it.
    function _frozenUntil(bytes32 orgId) private view returns (uint40) {
        uint40 failedAt = LEDGER.lastIndependentFailAt(orgId);
        return failedAt == 0 ? 0 : failedAt + WITHDRAWAL_DELAY;
    }

    function _clearWithdrawal(BondRecord storage record) private {
        record.withdrawalAmount = 0;
        record.withdrawalTo = address(0);
        record.unlockAt = 0;
    }

    function _requireAdmin(bytes32 orgId) private view {
        if (LEDGER.organisation(orgId).admin != msg.sender) revert QualityBondsNotOrganisationAdmin(orgId, msg.sender);
    }

    function _requireMember(bytes32 orgId) private view {
        if (LEDGER.organisationOf(msg.sender) != orgId) revert QualityBondsNotMember(orgId, msg.sender);
    }

    function _requireStatus(uint256 claimId, ClaimRecord storage record, ClaimStatus expected) private view {
        ClaimStatus status = record.status;
        if (status != expected) revert QualityBondsUnexpectedClaimStatus(claimId, status);
    }

    function _existingClaim(uint256 claimId) private view returns (ClaimRecord storage record) {
        record = _claims[claimId];
        if (record.status == ClaimStatus.None) revert QualityBondsUnknownClaim(claimId);
    }

    /// @dev The block timestamp as stored; uint40 seconds last until the year 36812.
    function _now() private view returns (uint40) {
        return SafeCast.toUint40(block.timestamp);
    }
}
