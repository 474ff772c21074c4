// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IQualityLedger} from "./IQualityLedger.sol";

/// @title IQualityBonds
/// @notice Suppliers' quality bonds per product line in the settlement token, and claims paid from them on the
/// facts of a QualityLedger: a buyer claims against a supplier's lot backed by an independent failed
/// attestation; the supplier accepts (paid at once) or disputes within the window; undisputed claims are paid
/// by anyone after the window; an arbiter rules on disputed ones. Withdrawals and terms changes are time-locked
/// so a supplier cannot empty its bond or zero its penalty once a defect shows.
/// @dev State machines and invariants: docs/contracts/quality.md. Amounts are token base units. Tokens with
/// transfer fees or rebasing are not supported.
interface IQualityBonds {
    // ------------------------------------------------------------------ types

    /// @notice Lifecycle of a claim.
    /// @dev None -> Filed -> (Disputed) -> Paid | Rejected | Withdrawn | Lapsed; the last four are terminal.
    /// Lapsed: closed unpaid because the failure it rested on was corrected (its claimant may file again on the
    /// correction).
    enum ClaimStatus {
        None,
        Filed,
        Disputed,
        Paid,
        Rejected,
        Withdrawn,
        Lapsed
    }

    /// @notice Compensation terms a bond backs.
    /// @param penaltyPerDefect Base units per defective unit of a failed attestation.
    /// @param claimCap Most one claim can take.
    /// @param disputeWindow Seconds after filing during which the supplier may dispute.
    struct Terms {
        uint96 penaltyPerDefect;
        uint96 claimCap;
        uint32 disputeWindow;
    }

    /// @notice A bond, as returned by bond().
    /// @param balance Tokens held for the bond.
    /// @param locked Part of the balance reserved by open claims.
    /// @param terms Terms in force now (all zero: none yet).
    /// @param pendingTerms Terms that replace them at termsEffectiveAt (all zero: none pending).
    /// @param termsEffectiveAt When pendingTerms take effect, or 0.
    /// @param withdrawalAmount Amount of the pending withdrawal, or 0.
    /// @param withdrawalTo Recipient of the pending withdrawal.
    /// @param unlockAt First timestamp at which the pending withdrawal may execute.
    struct Bond {
        uint256 balance;
        uint256 locked;
        Terms terms;
        Terms pendingTerms;
        uint40 termsEffectiveAt;
        uint256 withdrawalAmount;
        address withdrawalTo;
        uint40 unlockAt;
    }

    /// @notice A claim, as returned by claim().
    /// @param lotId The supplier's lot.
    /// @param seq The failed attestation backing it.
    /// @param supplier The lot's producer, whose bond pays.
    /// @param productId The lot's product line (the bond's other key).
    /// @param claimant The buyer organisation.
    /// @param consumerLot The claimant's lot that consumed `lotId`.
    /// @param amount Amount locked in the bond for it.
    /// @param paid Amount paid (0 until Paid).
    /// @param filedAt Block timestamp of filing.
    /// @param deadline End of the dispute window (exclusive).
    /// @param status Lifecycle state.
    struct Claim {
        bytes32 lotId;
        uint32 seq;
        bytes32 supplier;
        bytes32 productId;
        bytes32 claimant;
        bytes32 consumerLot;
        uint256 amount;
        uint256 paid;
        uint40 filedAt;
        uint40 deadline;
        ClaimStatus status;
    }

    // ------------------------------------------------------------------ events

    /// @notice Emitted when tokens are added to a bond.
    /// @param orgId The supplier.
    /// @param productId The product line.
    /// @param from Who paid them in.
    /// @param amount Base units.
    event BondDeposited(bytes32 indexed orgId, bytes32 indexed productId, address indexed from, uint256 amount);

    /// @notice Emitted when a bond's terms are set: at once for its first terms, else pending until effectiveAt.
    /// @param orgId The supplier.
    /// @param productId The product line.
    /// @param penaltyPerDefect Base units per defective unit.
    /// @param claimCap Most one claim can take.
    /// @param disputeWindow Seconds to dispute.
    /// @param effectiveAt When the terms apply.
    event TermsSet(
        bytes32 indexed orgId,
        bytes32 indexed productId,
        uint96 penaltyPerDefect,
        uint96 claimCap,
        uint32 disputeWindow,
        uint40 effectiveAt
    );

    /// @notice Emitted when a withdrawal is requested (replacing any pending one).
    /// @param orgId The supplier.
    /// @param productId The product line.
    /// @param to The fixed recipient.
    /// @param amount Base units.
    /// @param unlockAt First timestamp at which it may execute.
    event WithdrawalRequested(
        bytes32 indexed orgId, bytes32 indexed productId, address indexed to, uint256 amount, uint40 unlockAt
    );

    /// @notice Emitted when a pending withdrawal is cancelled.
    /// @param orgId The supplier.
    /// @param productId The product line.
    /// @param amount The cancelled amount.
    event WithdrawalCancelled(bytes32 indexed orgId, bytes32 indexed productId, uint256 amount);

    /// @notice Emitted when a withdrawal is paid out.
    /// @param orgId The supplier.
    /// @param productId The product line.
    /// @param to The recipient.
    /// @param amount Base units.
    event BondWithdrawn(bytes32 indexed orgId, bytes32 indexed productId, address indexed to, uint256 amount);

    /// @notice Emitted when a claim is filed and its amount locked in the bond.
    /// @param claimId The claim.
    /// @param lotId The supplier's lot.
    /// @param claimant The buyer organisation.
    /// @param seq The failed attestation.
    /// @param supplier The supplier organisation.
    /// @param productId The bond's product line.
    /// @param amount Locked amount.
    /// @param deadline End of the dispute window (exclusive).
    event ClaimFiled(
        uint256 indexed claimId,
        bytes32 indexed lotId,
        bytes32 indexed claimant,
        uint32 seq,
        bytes32 supplier,
        bytes32 productId,
        uint256 amount,
        uint40 deadline
    );

    /// @notice Emitted when the supplier disputes a claim.
    /// @param claimId The claim.
    /// @param by The supplier's member account.
    /// @param reasonCommitment Commitment to the supplier's grounds (a salted document).
    event ClaimDisputed(uint256 indexed claimId, address indexed by, bytes32 reasonCommitment);

    /// @notice Emitted when the arbiter rules on a disputed claim.
    /// @param claimId The claim.
    /// @param arbiter The ruling arbiter.
    /// @param awarded Amount awarded (0: rejected).
    /// @param rulingCommitment Commitment to the ruling document.
    event ClaimRuled(uint256 indexed claimId, address indexed arbiter, uint256 awarded, bytes32 rulingCommitment);

    /// @notice Emitted when the claimant withdraws a claim.
    /// @param claimId The claim.
    /// @param by The claimant's member account.
    event ClaimWithdrawn(uint256 indexed claimId, address indexed by);

    /// @notice Emitted when a filed claim whose failure was corrected is closed unpaid: by executeClaim once its
    /// window has passed, or by its claimant filing again on the correction.
    /// @param claimId The claim.
    /// @param supersededBy The correction that superseded the claim's attestation.
    event ClaimLapsed(uint256 indexed claimId, uint32 supersededBy);

    /// @notice Emitted when a claim is paid from the bond.
    /// @param claimId The claim.
    /// @param to The claimant organisation's admin at payment time.
    /// @param amount Base units paid.
    event ClaimPaid(uint256 indexed claimId, address indexed to, uint256 amount);

    // ------------------------------------------------------------------ errors

    /// @notice Thrown when a deposit or withdrawal of zero is requested.
    error QualityBondsZeroAmount();

    /// @notice Thrown when a withdrawal recipient is the zero address.
    error QualityBondsZeroAddress();

    /// @notice Thrown when terms have no penalty, no cap or no dispute window.
    /// @param penaltyPerDefect Given penalty.
    /// @param claimCap Given cap.
    /// @param disputeWindow Given window.
    error QualityBondsInvalidTerms(uint96 penaltyPerDefect, uint96 claimCap, uint32 disputeWindow);

    /// @notice Thrown when the caller is not the organisation's admin.
    /// @param orgId The organisation.
    /// @param caller The refused caller.
    error QualityBondsNotOrganisationAdmin(bytes32 orgId, address caller);

    /// @notice Thrown when the caller is not a member of the organisation that must act.
    /// @param orgId The organisation.
    /// @param caller The refused caller.
    error QualityBondsNotMember(bytes32 orgId, address caller);

    /// @notice Thrown when a withdrawal would take more than the bond's unlocked balance.
    /// @param orgId The supplier.
    /// @param productId The product line.
    /// @param free Balance minus locked.
    /// @param amount Requested amount.
    error QualityBondsInsufficientFreeBond(bytes32 orgId, bytes32 productId, uint256 free, uint256 amount);

    /// @notice Thrown when cancelling or executing a withdrawal that was never requested.
    /// @param orgId The supplier.
    /// @param productId The product line.
    error QualityBondsNoPendingWithdrawal(bytes32 orgId, bytes32 productId);

    /// @notice Thrown when executing a withdrawal before its time lock ends.
    /// @param orgId The supplier.
    /// @param productId The product line.
    /// @param unlockAt When it may execute.
    error QualityBondsWithdrawalLocked(bytes32 orgId, bytes32 productId, uint40 unlockAt);

    /// @notice Thrown when the bonds contract is deployed with a zero withdrawal delay: the delay is also the
    /// window in which a withdrawal may execute, so a zero one would lock every bond for good.
    error QualityBondsZeroWithdrawalDelay();

    /// @notice Thrown when a withdrawal is executed after its execution window (WITHDRAWAL_DELAY from unlockAt)
    /// closed: a request cannot be kept armed for the moment a failure shows; request again.
    /// @param orgId The supplier.
    /// @param productId The product line.
    /// @param expiredAt First timestamp at which the request could no longer execute.
    error QualityBondsWithdrawalExpired(bytes32 orgId, bytes32 productId, uint40 expiredAt);

    /// @notice Thrown when a withdrawal is executed within WITHDRAWAL_DELAY after an independent Fail on one of
    /// the organisation's lots (QualityLedger.lastIndependentFailAt): claimants get that long to file.
    /// @param orgId The supplier.
    /// @param productId The product line.
    /// @param frozenUntil First timestamp at which the withdrawal may execute.
    error QualityBondsWithdrawalFrozen(bytes32 orgId, bytes32 productId, uint40 frozenUntil);

    /// @notice Thrown when an organisation claims against a lot it produced.
    /// @param lotId The lot.
    /// @param orgId The organisation.
    error QualityBondsClaimAgainstOwnLot(bytes32 lotId, bytes32 orgId);

    /// @notice Thrown when a claim's attestation is not a Fail.
    /// @param lotId The lot.
    /// @param seq The attestation.
    /// @param outcome Its outcome.
    error QualityBondsNotAFailure(bytes32 lotId, uint32 seq, IQualityLedger.Outcome outcome);

    /// @notice Thrown when a claim's attestation has been superseded by a correction.
    /// @param lotId The lot.
    /// @param seq The attestation.
    /// @param supersededBy The correction.
    error QualityBondsAttestationSuperseded(bytes32 lotId, uint32 seq, uint32 supersededBy);

    /// @notice Thrown when a claim's attestation was made by an inspector of the lot's own producer.
    /// @param lotId The lot.
    /// @param seq The attestation.
    /// @param orgId The producer, which is also the inspector's organisation.
    error QualityBondsAttestationNotIndependent(bytes32 lotId, uint32 seq, bytes32 orgId);

    /// @notice Thrown when the claimant's consumer lot was produced by another organisation.
    /// @param lotId The consumer lot.
    /// @param orgId The claimant organisation.
    error QualityBondsNotLotProducer(bytes32 lotId, bytes32 orgId);

    /// @notice Thrown when the data commitment and inputs given do not match a lot's lineage digest.
    /// @param lotId The consumer lot.
    error QualityBondsLineageMismatch(bytes32 lotId);

    /// @notice Thrown when the consumer lot did not consume the claimed lot.
    /// @param consumerLot The claimant's lot.
    /// @param lotId The claimed lot.
    error QualityBondsLotNotConsumed(bytes32 consumerLot, bytes32 lotId);

    /// @notice Thrown when the claimant already has a claim against the lot that it has not withdrawn.
    /// @param lotId The lot.
    /// @param orgId The claimant.
    /// @param claimId The existing claim.
    error QualityBondsDuplicateClaim(bytes32 lotId, bytes32 orgId, uint256 claimId);

    /// @notice Thrown when a bond has no terms to compute a claim with.
    /// @param orgId The supplier.
    /// @param productId The product line.
    error QualityBondsNoTerms(bytes32 orgId, bytes32 productId);

    /// @notice Thrown when a claim would be for nothing (no defects, or an empty bond).
    /// @param lotId The lot.
    /// @param seq The attestation.
    /// @param computed min(defects x penalty, cap).
    /// @param free The bond's unlocked balance.
    error QualityBondsNothingToClaim(bytes32 lotId, uint32 seq, uint256 computed, uint256 free);

    /// @notice Thrown when a claim id does not exist.
    /// @param claimId The id.
    error QualityBondsUnknownClaim(uint256 claimId);

    /// @notice Thrown when a claim is not in a status the call applies to.
    /// @param claimId The claim.
    /// @param status Its status.
    error QualityBondsUnexpectedClaimStatus(uint256 claimId, ClaimStatus status);

    /// @notice Thrown when disputing after the dispute window.
    /// @param claimId The claim.
    /// @param deadline End of the window.
    error QualityBondsDisputeWindowClosed(uint256 claimId, uint40 deadline);

    /// @notice Thrown when executing an undisputed claim before the dispute window has ended.
    /// @param claimId The claim.
    /// @param deadline End of the window.
    error QualityBondsDisputeWindowOpen(uint256 claimId, uint40 deadline);

    /// @notice Thrown when a ruling awards more than the claim's amount.
    /// @param claimId The claim.
    /// @param awarded The award.
    /// @param amount The claim's amount.
    error QualityBondsAwardExceedsClaim(uint256 claimId, uint256 awarded, uint256 amount);

    /// @notice Thrown when a bond's terms are changed within WITHDRAWAL_DELAY after an independent Fail on one of
    /// the organisation's lots: the terms that failure was attested under stay on record while claimants file.
    /// @param orgId The supplier.
    /// @param productId The product line.
    /// @param frozenUntil First timestamp at which the terms may change.
    error QualityBondsTermsFrozen(bytes32 orgId, bytes32 productId, uint40 frozenUntil);

    /// @notice Thrown when executeClaim would let a claim lapse whose failure was recounted (its correction chain
    /// ends in a current Fail) less than WITHDRAWAL_DELAY after the chain's latest record: the claimant has that
    /// long to move its claim onto the recount (fileClaim), and the claim's amount stays locked meanwhile.
    /// @param claimId The claim.
    /// @param lapsesAt First timestamp at which anyone may let it lapse.
    error QualityBondsCorrectionPending(uint256 claimId, uint40 lapsesAt);

    // ------------------------------------------------------------------ constants

    /// @notice Role that rules on disputed claims.
    function ARBITER_ROLE() external view returns (bytes32);

    /// @notice The facts claims are checked against.
    function LEDGER() external view returns (IQualityLedger);

    /// @notice The settlement token bonds are held in.
    function TOKEN() external view returns (address);

    /// @notice Seconds a withdrawal or a terms change waits before it applies.
    function WITHDRAWAL_DELAY() external view returns (uint32);

    /// @notice How many corrections fileClaim follows from a claimant's earlier claim on the lot to decide whether
    /// the new claim is that claim moved onto a recount of its failure (and so keeps its filedAt).
    function MAX_CORRECTION_HOPS() external view returns (uint256);

    // ------------------------------------------------------------------ bonds

    /// @notice Pulls `amount` from the caller (ERC-20 allowance) into a registered organisation's bond.
    function deposit(bytes32 orgId, bytes32 productId, uint256 amount) external;

    /// @notice deposit with an ERC-2612 permit signed by the caller. A permit already used (front-run) is fine.
    function depositWithPermit(
        bytes32 orgId,
        bytes32 productId,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Sets the bond's terms: at once the first time, else after WITHDRAWAL_DELAY. Supplier admin. A change
    /// is refused (QualityBondsTermsFrozen) within WITHDRAWAL_DELAY after an independent Fail on the organisation's
    /// lots. A claim is priced on the terms in force when its failure was attested, however late it is filed.
    function setTerms(bytes32 orgId, bytes32 productId, Terms calldata terms) external;

    /// @notice Requests a withdrawal to `to`, executable after WITHDRAWAL_DELAY. Replaces a pending one.
    /// Supplier admin; `amount` must be free now.
    function requestWithdrawal(bytes32 orgId, bytes32 productId, uint256 amount, address to) external;

    /// @notice Cancels the pending withdrawal. Supplier admin.
    function cancelWithdrawal(bytes32 orgId, bytes32 productId) external;

    /// @notice Pays out a pending withdrawal once unlocked and before WITHDRAWAL_DELAY more has passed, if the
    /// amount is still free and no independent Fail on the organisation's lots is younger than WITHDRAWAL_DELAY.
    /// Anyone.
    function executeWithdrawal(bytes32 orgId, bytes32 productId) external;

    // ------------------------------------------------------------------ claims

    /// @notice Files the caller's organisation's claim against `lotId`, backed by its failed attestation `seq`,
    /// as the producer of `consumerLot`, which consumed it. Locks the amount, priced on the terms in force when
    /// attestation `seq` was made. A filed claim of the caller's organisation on this lot whose attestation was
    /// corrected lapses in the same call (ClaimLapsed), so a claim moves onto the correction without its amount
    /// being unlocked in between. A claim filed on a correction of the earlier claim's attestation (the record
    /// that corrected it, or a later correction of that one, up to MAX_CORRECTION_HOPS) keeps the earlier claim's
    /// filedAt (its place in any warranty), whether that claim lapses here or had lapsed already; a claim on any
    /// other record of the lot is a new claim with its own filedAt.
    /// @param lotId The supplier's lot.
    /// @param seq An independent, current Fail attestation of it.
    /// @param consumerLot The claimant's lot listing `lotId` among its inputs.
    /// @param consumerDataCommitment consumerLot's data commitment (from its LotRegistered event).
    /// @param consumerInputs consumerLot's inputs (from its LotRegistered event).
    /// @return claimId The new claim.
    function fileClaim(
        bytes32 lotId,
        uint32 seq,
        bytes32 consumerLot,
        bytes32 consumerDataCommitment,
        bytes32[] calldata consumerInputs
    ) external returns (uint256 claimId);

    /// @notice Accepts a filed or disputed claim and pays it at once. Supplier admin.
    function acceptClaim(uint256 claimId) external;

    /// @notice Disputes a filed claim within its window. Supplier member. (After the window a claim whose
    /// failure was corrected lapses through executeClaim.)
    function disputeClaim(uint256 claimId, bytes32 reasonCommitment) external;

    /// @notice Closes an undisputed claim once its window has passed: pays it if its attestation is still
    /// current, else it lapses unpaid (ClaimLapsed). Anyone. A claim whose attestation was recounted (its chain of
    /// corrections, followed for up to MAX_CORRECTION_HOPS records, ends in a current Fail) lapses only
    /// WITHDRAWAL_DELAY after the chain's latest record (QualityBondsCorrectionPending): the claimant's time to move
    /// it onto the recount.
    function executeClaim(uint256 claimId) external;

    /// @notice Rules on a disputed claim: pays `awarded` (at most the amount) and releases the rest. Arbiter.
    function ruleClaim(uint256 claimId, uint256 awarded, bytes32 rulingCommitment) external;

    /// @notice Withdraws a filed or disputed claim. Claimant member.
    function withdrawClaim(uint256 claimId) external;

    // ------------------------------------------------------------------ views

    /// @notice A bond (all zero for one never funded).
    function bond(bytes32 orgId, bytes32 productId) external view returns (Bond memory);

    /// @notice The terms in force now for a bond.
    function termsOf(bytes32 orgId, bytes32 productId) external view returns (Terms memory);

    /// @notice A claim. Reverts with QualityBondsUnknownClaim for an unknown id.
    function claim(uint256 claimId) external view returns (Claim memory);

    /// @notice Number of claims filed (ids run from 1 to it).
    function claimCount() external view returns (uint256);

    /// @notice The latest claim of `claimant` against `lotId`, or 0.
    function claimOf(bytes32 lotId, bytes32 claimant) external view returns (uint256);
}
