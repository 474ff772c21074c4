// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IQualityBonds} from "./IQualityBonds.sol";
import {IQualityLedger} from "./IQualityLedger.sol";

/// @title ISupplyChainSettlement
/// @notice Four-flow settlement (四流合一) of supply orders: an escrow that pays the supplier automatically, in
/// the transaction that completes the last flow, once the signed order (contract flow), the carrier's delivery
/// and the buyer's receipt (logistics), the tax-verified invoice and the escrowed funds agree. A mismatch emits
/// an event naming the flow and both values and moves nothing. Partial deliveries settle pro rata; a retention
/// is withheld for a warranty period and drawn by quality claims on the order's lots; past the delivery
/// deadline the buyer reclaims what delivered goods do not reserve; an arbiter settles disputes.
/// @dev State machines, storage layout and invariants: docs/contracts/supply-chain-settlement.md. Documents
/// (order lines, invoices, checkpoints) stay with their owners as salted-field Merkle commitments
/// (millchain.disclosure / DisclosureLib) emitted in events; the order lines' and invoices' roots are also
/// chained into one stored hash per order, so verifyDocumentField checks a disclosed field on chain. Amounts
/// are token base units; tokens with transfer fees or rebasing are not supported.
interface ISupplyChainSettlement {
    // ------------------------------------------------------------------ types

    /// @notice Lifecycle of an order.
    /// @dev None -> Active -> Completed | Closed; None -> Void (an id burnt before submission).
    enum OrderStatus {
        None,
        Active,
        Completed,
        Closed,
        Void
    }

    /// @notice Lifecycle of a shipment.
    /// @dev None -> InTransit -> Delivered -> Settled; an arbiter's ruling on a shipment in transit delivers it.
    enum ShipmentStatus {
        None,
        InTransit,
        Delivered,
        Settled
    }

    /// @notice Who confirmed a shipment's receipt. The buyer's and the inspection's are final; the arbiter's
    /// ruling overrides either.
    enum Receipt {
        None,
        Buyer,
        Inspection,
        Arbiter
    }

    /// @notice State of a shipment's invoice.
    enum InvoiceStatus {
        None,
        Submitted,
        Verified,
        Rejected
    }

    /// @notice The four flows a settlement reconciles.
    enum Flow {
        Contract,
        Logistics,
        Invoice,
        Funds
    }

    /// @notice A party of an order, as named in authorisation errors.
    enum Party {
        Buyer,
        Supplier,
        Carrier,
        BuyerOrSupplier
    }

    /// @notice What a quality claim has done to an order's retention.
    enum ClaimUse {
        None,
        Holding,
        Drawn,
        Dropped
    }

    /// @notice The order buyer and supplier sign (EIP-712 `Order`, fields in this order).
    /// @param orderId The parties' own number (e.g. a purchase-order label); single-use per buyer-supplier pair.
    /// @param buyer Pays; EOA or ERC-1271 wallet.
    /// @param supplier Is paid; EOA or ERC-1271 wallet.
    /// @param carrier Posts the logistics events; may be the buyer or the supplier.
    /// @param token The ERC-20 the order settles in.
    /// @param linesCommitment Salted-field Merkle root of the order lines.
    /// @param quantity Units ordered.
    /// @param unitPrice Tax-inclusive price per unit, token base units.
    /// @param total quantity x unitPrice (checked).
    /// @param deliveryDeadline Last timestamp at which goods may be shipped or delivered.
    /// @param qcRequired Whether pass attestations of the shipped lots count as receipt.
    /// @param retentionBps Share of every payment withheld as retention, basis points.
    /// @param warrantyPeriod Seconds after the last settlement until the retention may be released.
    /// @param toleranceBps Allowed difference between delivered and received quantity, basis points of delivered.
    struct Order {
        bytes32 orderId;
        address buyer;
        address supplier;
        address carrier;
        address token;
        bytes32 linesCommitment;
        uint48 quantity;
        uint96 unitPrice;
        uint96 total;
        uint40 deliveryDeadline;
        bool qcRequired;
        uint16 retentionBps;
        uint32 warrantyPeriod;
        uint16 toleranceBps;
    }

    /// @notice An invoice as submitted (submitInvoice's arguments): a link of an order's documents chain.
    /// @param shipmentId The shipment invoiced.
    /// @param amount Tax-inclusive amount.
    /// @param taxAmount Tax included in the amount.
    /// @param commitment Salted-field Merkle root of the e-invoice.
    struct InvoiceLink {
        uint256 shipmentId;
        uint96 amount;
        uint96 taxAmount;
        bytes32 commitment;
    }

    /// @notice An order's terms and state, as returned by orderState().
    /// @param status Lifecycle state.
    /// @param buyer The buyer.
    /// @param supplier The supplier.
    /// @param carrier The carrier.
    /// @param token The settlement token.
    /// @param quantity Units ordered.
    /// @param unitPrice Price per unit.
    /// @param deliveryDeadline Last timestamp for shipping and delivering.
    /// @param qcRequired Whether QC pass attestations count as receipt.
    /// @param retentionBps Retention share, basis points.
    /// @param warrantyPeriod Warranty seconds.
    /// @param toleranceBps Quantity tolerance, basis points.
    /// @param shipmentCount Shipments so far (their numbers run from 1 to it; see ship() for their ids).
    /// @param escrow Funds held for payments.
    /// @param retention Withheld retention not yet released or drawn.
    /// @param settled Units paid for.
    /// @param reserved Units delivered shipments may still make payable.
    /// @param releaseAt When the retention may be released (0: nothing settled yet).
    /// @param holds Open quality claims holding the retention.
    struct OrderState {
        OrderStatus status;
        address buyer;
        address supplier;
        address carrier;
        address token;
        uint48 quantity;
        uint96 unitPrice;
        uint40 deliveryDeadline;
        bool qcRequired;
        uint16 retentionBps;
        uint32 warrantyPeriod;
        uint16 toleranceBps;
        uint16 shipmentCount;
        uint96 escrow;
        uint96 retention;
        uint48 settled;
        uint48 reserved;
        uint40 releaseAt;
        uint16 holds;
    }

    /// @notice A shipment, as returned by shipment().
    /// @param status Lifecycle state.
    /// @param receipt Who confirmed the receipt (None: not yet).
    /// @param invoice The invoice's state.
    /// @param delivered Units the carrier delivered.
    /// @param received Units received (or accepted by the arbiter).
    /// @param invoiceAmount Amount of the current invoice.
    struct ShipmentState {
        ShipmentStatus status;
        Receipt receipt;
        InvoiceStatus invoice;
        uint48 delivered;
        uint48 received;
        uint96 invoiceAmount;
    }

    // ------------------------------------------------------------------ events

    /// @notice Emitted when a doubly signed order is created.
    /// @param orderKey orderKeyOf(buyer, supplier, orderId): the order's handle.
    /// @param orderId The parties' own number.
    /// @param buyer The buyer.
    /// @param supplier The supplier.
    /// @param carrier The carrier.
    /// @param linesCommitment Salted-field Merkle root of the order lines.
    event OrderCreated(
        bytes32 indexed orderKey,
        bytes32 indexed orderId,
        address indexed buyer,
        address supplier,
        address carrier,
        bytes32 linesCommitment
    );

    /// @notice Emitted when a party burns an order id before it was submitted.
    /// @param orderKey The burnt key.
    /// @param orderId The parties' number.
    /// @param by The voiding party.
    event OrderVoided(bytes32 indexed orderKey, bytes32 indexed orderId, address indexed by);

    /// @notice Emitted when tokens are added to an order's escrow.
    /// @param orderKey The order.
    /// @param from Who paid them in.
    /// @param amount Base units added.
    /// @param unfunded What the escrow can still take after: (quantity - settled) x unitPrice - escrow.
    event EscrowFunded(bytes32 indexed orderKey, address indexed from, uint256 amount, uint256 unfunded);

    /// @notice Emitted when the carrier ships goods.
    /// @param orderKey The order.
    /// @param shipmentId The new shipment.
    /// @param quantity Units shipped.
    /// @param lotIds The lots shipped (may be empty unless the order requires QC).
    event GoodsShipped(bytes32 indexed orderKey, uint256 indexed shipmentId, uint48 quantity, bytes32[] lotIds);

    /// @notice Emitted when the carrier records a checkpoint (a toll station, a depot...).
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param commitment Salted-field Merkle root of the checkpoint (place, time, vehicle...).
    event CheckpointRecorded(bytes32 indexed orderKey, uint256 indexed shipmentId, bytes32 commitment);

    /// @notice Emitted when the carrier delivers a shipment.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param quantity Units delivered.
    event GoodsDelivered(bytes32 indexed orderKey, uint256 indexed shipmentId, uint48 quantity);

    /// @notice Emitted when a shipment's receipt is confirmed by the buyer or by QC pass attestations.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param quantity Units received.
    /// @param receipt Buyer or Inspection.
    event GoodsReceived(bytes32 indexed orderKey, uint256 indexed shipmentId, uint48 quantity, Receipt receipt);

    /// @notice Emitted when the supplier submits (or replaces) a shipment's invoice.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param amount Tax-inclusive amount.
    /// @param taxAmount Tax included in the amount.
    /// @param commitment Salted-field Merkle root of the e-invoice.
    event InvoiceSubmitted(
        bytes32 indexed orderKey, uint256 indexed shipmentId, uint96 amount, uint96 taxAmount, bytes32 commitment
    );

    /// @notice Emitted when the tax platform verifies a shipment's invoice.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param verifier The tax platform's account.
    event InvoiceVerified(bytes32 indexed orderKey, uint256 indexed shipmentId, address indexed verifier);

    /// @notice Emitted when the tax platform rejects a shipment's invoice.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param verifier The tax platform's account.
    /// @param reasonCommitment Commitment to the platform's reasons.
    event InvoiceRejected(
        bytes32 indexed orderKey, uint256 indexed shipmentId, address indexed verifier, bytes32 reasonCommitment
    );

    /// @notice Emitted, once per disagreeing flow, when a shipment's flows are complete but do not agree.
    /// Nothing moves.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param flow The flow that disagrees.
    /// @param expected What the other flows require (see docs for each flow).
    /// @param actual What this flow holds.
    event SettlementMismatched(
        bytes32 indexed orderKey, uint256 indexed shipmentId, Flow indexed flow, uint256 expected, uint256 actual
    );

    /// @notice Emitted when a shipment settles: the supplier is paid, the retention withheld.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param quantity Units paid for.
    /// @param paid Base units transferred to the supplier.
    /// @param retained Base units added to the retention.
    event ShipmentSettled(
        bytes32 indexed orderKey, uint256 indexed shipmentId, uint48 quantity, uint256 paid, uint256 retained
    );

    /// @notice Emitted when the settled quantity reaches the order's quantity.
    /// @param orderKey The order.
    event OrderCompleted(bytes32 indexed orderKey);

    /// @notice Emitted when unreserved escrow is returned to the buyer after the order has ended.
    /// @param orderKey The order.
    /// @param to The buyer.
    /// @param amount Base units.
    event EscrowRefunded(bytes32 indexed orderKey, address indexed to, uint256 amount);

    /// @notice Emitted when the retention is paid to the supplier after the warranty period.
    /// @param orderKey The order.
    /// @param to The supplier.
    /// @param amount Base units.
    event RetentionReleased(bytes32 indexed orderKey, address indexed to, uint256 amount);

    /// @notice Emitted when an open quality claim on the order's lots starts holding the retention.
    /// @param orderKey The order.
    /// @param claimId The claim in the quality bonds contract.
    event RetentionHeld(bytes32 indexed orderKey, uint256 indexed claimId);

    /// @notice Emitted when a rejected, withdrawn or lapsed claim stops holding the retention. A lapsed claim's
    /// hold passes to the claim that moved onto the correction, if that one is open (RetentionHeld follows).
    /// @param orderKey The order.
    /// @param claimId The claim.
    event RetentionHoldLifted(bytes32 indexed orderKey, uint256 indexed claimId);

    /// @notice Emitted when a paid quality claim draws the price of the defective units from the retention.
    /// @param orderKey The order.
    /// @param claimId The claim.
    /// @param to The buyer.
    /// @param amount Base units drawn (possibly 0 when the retention was already empty).
    event RetentionDrawn(bytes32 indexed orderKey, uint256 indexed claimId, address indexed to, uint256 amount);

    /// @notice Emitted when the arbiter rules a shipment's accepted quantity.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param arbiter The ruling arbiter.
    /// @param acceptedQuantity Units to be paid for.
    /// @param rulingCommitment Commitment to the ruling document.
    event ShipmentArbitrated(
        bytes32 indexed orderKey,
        uint256 indexed shipmentId,
        address indexed arbiter,
        uint48 acceptedQuantity,
        bytes32 rulingCommitment
    );

    /// @notice Emitted when the arbiter splits an order's retention.
    /// @param orderKey The order.
    /// @param arbiter The ruling arbiter.
    /// @param toBuyer Base units paid to the buyer.
    /// @param toSupplier Base units paid to the supplier.
    /// @param rulingCommitment Commitment to the ruling document.
    event RetentionArbitrated(
        bytes32 indexed orderKey, address indexed arbiter, uint256 toBuyer, uint256 toSupplier, bytes32 rulingCommitment
    );

    /// @notice Emitted when the arbiter ends an active order.
    /// @param orderKey The order.
    /// @param arbiter The ruling arbiter.
    /// @param rulingCommitment Commitment to the ruling document.
    event OrderClosed(bytes32 indexed orderKey, address indexed arbiter, bytes32 rulingCommitment);

    // ------------------------------------------------------------------ errors

    /// @notice Thrown when a party or the token of an order is the zero address.
    error SupplyChainSettlementZeroAddress();

    /// @notice Thrown when an order names the same account as buyer and supplier.
    /// @param account The account.
    error SupplyChainSettlementSameParty(address account);

    /// @notice Thrown when an order has no quantity or no price.
    /// @param quantity The quantity given.
    /// @param unitPrice The price given.
    error SupplyChainSettlementEmptyOrder(uint48 quantity, uint96 unitPrice);

    /// @notice Thrown when an order's total is not its quantity times its unit price.
    /// @param total The signed total.
    /// @param computed quantity x unitPrice.
    error SupplyChainSettlementTotalMismatch(uint96 total, uint256 computed);

    /// @notice Thrown when basis points exceed 10,000, or a retention comes without a warranty period.
    /// @param retentionBps The retention given.
    /// @param warrantyPeriod The warranty given.
    /// @param toleranceBps The tolerance given.
    error SupplyChainSettlementInvalidTerms(uint16 retentionBps, uint32 warrantyPeriod, uint16 toleranceBps);

    /// @notice Thrown when creating an order whose delivery deadline has passed, or shipping or delivering
    /// after an order has ended (deadline passed or closed).
    /// @param orderKey The order (0 when creating).
    /// @param deadline The delivery deadline.
    error SupplyChainSettlementOrderEnded(bytes32 orderKey, uint40 deadline);

    /// @notice Thrown when creating or voiding an order whose key is already used.
    /// @param orderKey The key.
    /// @param status Its status.
    error SupplyChainSettlementOrderExists(bytes32 orderKey, OrderStatus status);

    /// @notice Thrown when a signature is not the signer's (ECDSA for an EOA, ERC-1271 for a contract).
    /// @param signer The account that should have signed.
    error SupplyChainSettlementInvalidSignature(address signer);

    /// @notice Thrown when a carrier signature is relayed after its deadline.
    /// @param deadline The signed deadline.
    error SupplyChainSettlementSignatureExpired(uint40 deadline);

    /// @notice Thrown when a carrier signature was made for another nonce (replayed or out of order).
    /// @param carrier The carrier.
    /// @param nonce The signed nonce.
    /// @param expected The carrier's next nonce.
    error SupplyChainSettlementInvalidNonce(address carrier, uint256 nonce, uint256 expected);

    /// @notice Thrown when an order key was never created.
    /// @param orderKey The key.
    error SupplyChainSettlementUnknownOrder(bytes32 orderKey);

    /// @notice Thrown when a call needs an Active order.
    /// @param orderKey The order.
    /// @param status Its status.
    error SupplyChainSettlementOrderNotActive(bytes32 orderKey, OrderStatus status);

    /// @notice Thrown when the caller is not the party a call is reserved to.
    /// @param orderKey The order (0 when voiding).
    /// @param party The party required.
    /// @param caller The refused caller.
    error SupplyChainSettlementUnauthorized(bytes32 orderKey, Party party, address caller);

    /// @notice Thrown when funding with zero.
    error SupplyChainSettlementZeroAmount();

    /// @notice Thrown when funding would put more in escrow than the order can still pay.
    /// @param orderKey The order.
    /// @param escrow The escrow it would reach.
    /// @param maximum (quantity - settled) x unitPrice.
    error SupplyChainSettlementOverfunded(bytes32 orderKey, uint256 escrow, uint256 maximum);

    /// @notice Thrown when shipping with zero quantity or delivering zero.
    /// @param orderKey The order.
    error SupplyChainSettlementZeroQuantity(bytes32 orderKey);

    /// @notice Thrown when a shipment lists more than MAX_LOTS lots, or none where the order requires QC.
    /// @param count Lots listed.
    /// @param max MAX_LOTS.
    error SupplyChainSettlementInvalidLotCount(uint256 count, uint256 max);

    /// @notice Thrown when an order already has the most shipments an id can number.
    /// @param orderKey The order.
    error SupplyChainSettlementTooManyShipments(bytes32 orderKey);

    /// @notice Thrown when a shipment id does not exist in the order.
    /// @param orderKey The order.
    /// @param shipmentId The id.
    error SupplyChainSettlementUnknownShipment(bytes32 orderKey, uint256 shipmentId);

    /// @notice Thrown when a shipment is not in a status the call applies to.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param status Its status.
    error SupplyChainSettlementUnexpectedShipmentStatus(bytes32 orderKey, uint256 shipmentId, ShipmentStatus status);

    /// @notice Thrown when confirming a receipt that is already confirmed.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param receipt Who confirmed it.
    error SupplyChainSettlementAlreadyReceived(bytes32 orderKey, uint256 shipmentId, Receipt receipt);

    /// @notice Thrown when an invoice call does not apply to the invoice's status (a submitted invoice waits for
    /// the tax platform and cannot be replaced; only a submitted invoice can be verified or rejected).
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param status The invoice's status.
    error SupplyChainSettlementUnexpectedInvoiceStatus(bytes32 orderKey, uint256 shipmentId, InvoiceStatus status);

    /// @notice Thrown when an invoice's tax exceeds its (tax-inclusive) amount.
    /// @param taxAmount The tax.
    /// @param amount The amount.
    error SupplyChainSettlementTaxExceedsAmount(uint96 taxAmount, uint96 amount);

    /// @notice Thrown when settle() is called while a flow is still missing.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param flow The first missing flow.
    error SupplyChainSettlementFlowPending(bytes32 orderKey, uint256 shipmentId, Flow flow);

    /// @notice Thrown when refunding before the order has ended.
    /// @param orderKey The order.
    /// @param deadline Its delivery deadline.
    error SupplyChainSettlementOrderNotEnded(bytes32 orderKey, uint40 deadline);

    /// @notice Thrown when there is nothing to refund (all escrow is reserved or there is none).
    /// @param orderKey The order.
    /// @param escrow The escrow.
    /// @param reserved The part of it delivered shipments reserve.
    error SupplyChainSettlementNothingToRefund(bytes32 orderKey, uint256 escrow, uint256 reserved);

    /// @notice Thrown when releasing a retention that is empty.
    /// @param orderKey The order.
    error SupplyChainSettlementNoRetention(bytes32 orderKey);

    /// @notice Thrown when releasing the retention before the warranty has passed or while claims hold it.
    /// @param orderKey The order.
    /// @param releaseAt When the warranty ends.
    /// @param holds Open quality claims holding it.
    error SupplyChainSettlementRetentionLocked(bytes32 orderKey, uint40 releaseAt, uint16 holds);

    /// @notice Thrown when the arbiter awards the buyer more than the retention.
    /// @param orderKey The order.
    /// @param toBuyer The award.
    /// @param retention The retention.
    error SupplyChainSettlementAwardExceedsRetention(bytes32 orderKey, uint256 toBuyer, uint256 retention);

    /// @notice Thrown when a quality function is used on a deployment without quality contracts.
    error SupplyChainSettlementQualityNotConfigured();

    /// @notice Thrown when confirming a receipt by inspection on an order that does not require QC.
    /// @param orderKey The order.
    error SupplyChainSettlementInspectionNotRequired(bytes32 orderKey);

    /// @notice Thrown when the lot list given is not the one the shipment recorded.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    error SupplyChainSettlementLotsMismatch(bytes32 orderKey, uint256 shipmentId);

    /// @notice Thrown when a disclosure names an order or an invoice list that is not the order's documents chain
    /// on chain (another version of the order, an invoice missing, altered or out of order).
    /// @param orderKey The order the given terms name.
    error SupplyChainSettlementDocumentsMismatch(bytes32 orderKey);

    /// @notice Thrown when disclosing a field of a document the order does not have.
    /// @param document The document asked for (0: the order lines; n: the n-th invoice).
    /// @param invoices Invoices given.
    error SupplyChainSettlementUnknownDocument(uint256 document, uint256 invoices);

    /// @notice Thrown when the lists of lots and attestation numbers differ in length.
    /// @param lots Lots given.
    /// @param seqs Attestation numbers given.
    error SupplyChainSettlementLengthMismatch(uint256 lots, uint256 seqs);

    /// @notice Thrown when an attestation given as receipt is not a current, independent Pass.
    /// @param lotId The lot.
    /// @param seq The attestation.
    /// @param outcome Its outcome.
    /// @param supersededBy The correction superseding it, or 0.
    /// @param independent Whether its inspector is independent of the lot's producer.
    error SupplyChainSettlementInspectionNotPassed(
        bytes32 lotId, uint32 seq, IQualityLedger.Outcome outcome, uint32 supersededBy, bool independent
    );

    /// @notice Thrown when a shipped lot (given as receipt, or the lot of a quality claim) was not produced by the
    /// supplier's organisation.
    /// @param lotId The lot.
    /// @param producer Its producer.
    /// @param supplierOrg The supplier's organisation (0: none).
    error SupplyChainSettlementLotOfOtherProducer(bytes32 lotId, bytes32 producer, bytes32 supplierOrg);

    /// @notice Thrown when an attestation given as receipt is not its lot's latest independent record
    /// (QualityLedger.latestIndependent): an older Pass never outweighs a later Fail or alert of another body.
    /// @param lotId The lot.
    /// @param seq The attestation given.
    /// @param latest The lot's latest independent record (0: none).
    error SupplyChainSettlementInspectionNotLatest(bytes32 lotId, uint32 seq, uint32 latest);

    /// @notice Thrown when a receipt by inspection would accept more units than the shipment's lots still hold:
    /// each lot's quantity less what earlier receipts by inspection (of any order) counted from it, a lot listed
    /// twice counting once.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param delivered Units the carrier reported delivered.
    /// @param lotsQuantity Units the listed lots still hold for receipts by inspection.
    error SupplyChainSettlementDeliveredExceedsLots(
        bytes32 orderKey, uint256 shipmentId, uint256 delivered, uint256 lotsQuantity
    );

    /// @notice Thrown when someone other than the buyer confirms a receipt by inspection while the buyer's own
    /// window (BUYER_RECEIPT_WINDOW after delivery) is open.
    /// @param orderKey The order.
    /// @param shipmentId The shipment.
    /// @param opensAt First timestamp at which anyone may confirm by inspection.
    error SupplyChainSettlementBuyerReceiptWindow(bytes32 orderKey, uint256 shipmentId, uint40 opensAt);

    /// @notice Thrown when a quality claim is against a lot that is not in the shipment given.
    /// @param claimId The claim.
    /// @param lotId Its lot.
    error SupplyChainSettlementClaimNotOnOrder(uint256 claimId, bytes32 lotId);

    /// @notice Thrown when a quality claim was filed by another organisation than the buyer's.
    /// @param claimId The claim.
    /// @param claimant Its claimant.
    /// @param buyerOrg The buyer's organisation (0: none).
    error SupplyChainSettlementClaimByOtherOrganisation(uint256 claimId, bytes32 claimant, bytes32 buyerOrg);

    /// @notice Thrown when a quality claim was filed after the retention's warranty ended, or before anything
    /// settled (no retention to act on).
    /// @param claimId The claim.
    /// @param filedAt When it was filed.
    /// @param releaseAt When the warranty ends (0: nothing settled).
    error SupplyChainSettlementClaimOutsideWarranty(uint256 claimId, uint40 filedAt, uint40 releaseAt);

    /// @notice Thrown when a quality claim has already acted (on this or another order) in a way its status
    /// does not change.
    /// @param claimId The claim.
    /// @param orderKey The order it acted on.
    /// @param use What it did.
    error SupplyChainSettlementClaimAlreadyApplied(uint256 claimId, bytes32 orderKey, ClaimUse use);

    /// @notice Thrown when a rejected or withdrawn claim that never held the retention is applied.
    /// @param claimId The claim.
    /// @param status Its status in the bonds contract.
    error SupplyChainSettlementClaimNotApplicable(uint256 claimId, IQualityBonds.ClaimStatus status);

    // ------------------------------------------------------------------ constants

    /// @notice Role that verifies and rejects invoices (an accredited tax platform).
    function TAX_VERIFIER_ROLE() external view returns (bytes32);

    /// @notice Role that rules disputes.
    function ARBITER_ROLE() external view returns (bytes32);

    /// @notice Most lots a shipment may list.
    function MAX_LOTS() external view returns (uint256);

    /// @notice Seconds after a delivery during which only the buyer may confirm its receipt by inspection.
    function BUYER_RECEIPT_WINDOW() external view returns (uint32);

    /// @notice The quality ledger whose attestations count as receipt (0: not configured).
    function LEDGER() external view returns (IQualityLedger);

    /// @notice The quality bonds whose claims draw retention (0: not configured).
    function BONDS() external view returns (IQualityBonds);

    // ------------------------------------------------------------------ contract flow

    /// @notice Creates an order both parties signed; anyone may submit it, and may fund its escrow in the same
    /// call (the buyer submitting a funded order).
    /// @param order The signed order.
    /// @param buyerSignature The buyer's EIP-712 signature (65 bytes for an EOA; anything its ERC-1271 accepts).
    /// @param supplierSignature The supplier's.
    /// @param funding Amount to pull from the caller into the escrow at once, as fund() would (0: none).
    /// @return orderKey orderKeyOf(buyer, supplier, orderId).
    function createOrder(
        Order calldata order,
        bytes calldata buyerSignature,
        bytes calldata supplierSignature,
        uint256 funding
    ) external returns (bytes32 orderKey);

    /// @notice Burns an order id of the caller's before it is submitted, so no signature for it can be used.
    /// @param buyer The buyer of the order id.
    /// @param supplier The supplier of the order id.
    /// @param orderId The id.
    function voidOrder(address buyer, address supplier, bytes32 orderId) external;

    // ------------------------------------------------------------------ funds

    /// @notice Pulls `amount` from the caller (ERC-20 allowance) into the order's escrow, then settles
    /// `settleShipment` if its flows now agree (0: none).
    function fund(bytes32 orderKey, uint256 amount, uint256 settleShipment) external;

    /// @notice fund with an ERC-2612 permit signed by the caller. A permit already used (front-run) is fine.
    function fundWithPermit(
        bytes32 orderKey,
        uint256 amount,
        uint256 settleShipment,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Returns to the buyer the escrow delivered shipments do not reserve, once the order has ended
    /// (deadline passed or closed). Anyone.
    function refund(bytes32 orderKey) external;

    // ------------------------------------------------------------------ logistics flow

    /// @notice Records goods leaving for the buyer. Carrier; the order must be Active and not ended.
    /// @param quantity Units shipped, non-zero.
    /// @param lotIds The lots shipped: at most MAX_LOTS, at least one where the order requires QC.
    /// @return shipmentId The new shipment's id: its number in the order in the top 16 bits, the low 240 bits of
    /// keccak256(abi.encodePacked(lotIds)) below, so the id proves which lots the shipment carried.
    function ship(bytes32 orderKey, uint48 quantity, bytes32[] calldata lotIds) external returns (uint256 shipmentId);

    /// @notice Records a checkpoint of a shipment in transit. Carrier.
    /// @param commitment Salted-field Merkle root of the checkpoint document.
    function checkpoint(bytes32 orderKey, uint256 shipmentId, bytes32 commitment) external;

    /// @notice Records a shipment's delivery. Carrier; the order must not have ended.
    /// @param quantity Units delivered, non-zero.
    function deliver(bytes32 orderKey, uint256 shipmentId, uint48 quantity) external;

    /// @notice ship() with a carrier signature (EIP-712 `Shipment`); anyone relays.
    function shipBySig(
        bytes32 orderKey,
        uint48 quantity,
        bytes32[] calldata lotIds,
        uint256 nonce,
        uint40 deadline,
        bytes calldata signature
    ) external returns (uint256 shipmentId);

    /// @notice checkpoint() with a carrier signature (EIP-712 `Checkpoint`); anyone relays.
    function checkpointBySig(
        bytes32 orderKey,
        uint256 shipmentId,
        bytes32 commitment,
        uint256 nonce,
        uint40 deadline,
        bytes calldata signature
    ) external;

    /// @notice deliver() with a carrier signature (EIP-712 `Delivery`); anyone relays.
    function deliverBySig(
        bytes32 orderKey,
        uint256 shipmentId,
        uint48 quantity,
        uint256 nonce,
        uint40 deadline,
        bytes calldata signature
    ) external;

    /// @notice Confirms the quantity received (0 rejects the whole shipment). Buyer; final.
    function confirmReceipt(bytes32 orderKey, uint256 shipmentId, uint48 quantity) external;

    /// @notice Confirms a delivered shipment's quantity as received from QC pass attestations of all its lots.
    /// Only for orders that require QC. The buyer at any time; anyone else once BUYER_RECEIPT_WINDOW has passed
    /// since the delivery. The delivered quantity must not exceed what the listed lots still hold: it is counted
    /// against them in list order (inspectedUnits), so no lot's units are received by inspection twice.
    /// @param lotIds The shipment's full lot list, as shipped.
    /// @param seqs For each lot, its latest independent record (QualityLedger.latestIndependent), a Pass.
    function confirmReceiptByInspection(
        bytes32 orderKey,
        uint256 shipmentId,
        bytes32[] calldata lotIds,
        uint32[] calldata seqs
    ) external;

    // ------------------------------------------------------------------ invoice flow

    /// @notice Submits the shipment's invoice, or replaces a rejected one or a verified one that did not settle.
    /// Supplier.
    /// @param amount Tax-inclusive amount; settles when it equals received x unitPrice.
    /// @param taxAmount Tax included in `amount`.
    /// @param commitment Salted-field Merkle root of the e-invoice.
    function submitInvoice(bytes32 orderKey, uint256 shipmentId, uint96 amount, uint96 taxAmount, bytes32 commitment)
        external;

    /// @notice Verifies a submitted invoice. Tax platform.
    function verifyInvoice(bytes32 orderKey, uint256 shipmentId) external;

    /// @notice Rejects a submitted invoice. Tax platform.
    /// @param reasonCommitment Commitment to the reasons.
    function rejectInvoice(bytes32 orderKey, uint256 shipmentId, bytes32 reasonCommitment) external;

    // ------------------------------------------------------------------ settlement and retention

    /// @notice Settles a shipment whose four flows agree (a retry: every flow-completing call already tries).
    /// Anyone. Reverts with SupplyChainSettlementFlowPending while a flow is missing; emits mismatches.
    function settle(bytes32 orderKey, uint256 shipmentId) external;

    /// @notice Pays the retention to the supplier once the warranty has passed and no claim holds it. Anyone.
    function releaseRetention(bytes32 orderKey) external;

    /// @notice Applies a quality claim against a lot of one of the order's shipments to the retention: an open
    /// claim holds it, a paid claim draws the price of the defective units for the buyer, a rejected, withdrawn or
    /// lapsed claim lifts its hold, a lapsed one passing it to the open claim its claimant moved onto the
    /// correction (QualityBonds.claimOf), in the same call. Anyone. The parties' organisations are their permanent affiliations
    /// (QualityLedger.affiliationOf), and a hold, once placed, is lifted or drawn without checking them again:
    /// no later membership change can freeze or dodge a retention.
    /// @param lotIds The shipment's full lot list, as shipped.
    /// @param claimId The claim in the quality bonds contract.
    function applyQualityClaim(bytes32 orderKey, uint256 shipmentId, bytes32[] calldata lotIds, uint256 claimId)
        external;

    // ------------------------------------------------------------------ arbiter

    /// @notice Rules the quantity of an unsettled shipment to be paid for, waiving the logistics check; for a
    /// shipment still in transit the ruling also records its delivery (of that quantity). Arbiter.
    function arbitrateShipment(bytes32 orderKey, uint256 shipmentId, uint48 acceptedQuantity, bytes32 rulingCommitment)
        external;

    /// @notice Pays the retention out now: `toBuyer` to the buyer, the rest to the supplier. Arbiter.
    function arbitrateRetention(bytes32 orderKey, uint256 toBuyer, bytes32 rulingCommitment) external;

    /// @notice Ends an active order now (no more shipping or delivering; refunds open). Arbiter.
    function closeOrder(bytes32 orderKey, bytes32 rulingCommitment) external;

    // ------------------------------------------------------------------ views

    /// @notice An order's terms and state. Reverts with SupplyChainSettlementUnknownOrder for an unknown key.
    function orderState(bytes32 orderKey) external view returns (OrderState memory);

    /// @notice A shipment. Reverts for an unknown order or shipment.
    function shipment(bytes32 orderKey, uint256 shipmentId) external view returns (ShipmentState memory);

    /// @notice The status of an order key (None when unused; Void when burnt).
    function orderStatus(bytes32 orderKey) external view returns (OrderStatus);

    /// @notice The key of an order: the buyer's address in the top 160 bits, the low 96 bits of
    /// keccak256(abi.encode(buyer, supplier, orderId)) below.
    function orderKeyOf(address buyer, address supplier, bytes32 orderId) external pure returns (bytes32);

    /// @notice The EIP-712 digest buyer and supplier sign for `order`.
    function orderDigest(Order calldata order) external view returns (bytes32);

    /// @notice The head of the order's documents chain: the low 160 bits of the signed order's EIP-712 struct
    /// hash (which holds the order-lines root), each submitted invoice then folded in as
    /// uint160(keccak256(abi.encode(previous, InvoiceLink))). Reverts for an unknown order.
    function documents(bytes32 orderKey) external view returns (bytes20);

    /// @notice True when (`name`, `value`, `salt`, `proof`) is a field of document `document` of the order: 0 its
    /// order lines (the root in `order`), n >= 1 the n-th invoice submitted for it (`invoices[n - 1]`, whose
    /// shipment, amount and tax are as the supplier submitted them). Reverts with
    /// SupplyChainSettlementDocumentsMismatch unless `order` is the created order and `invoices` every invoice
    /// submitted for it, in order (the InvoiceSubmitted events; none before the first): the chain they hash to is
    /// checked against documents(orderKey), so nothing but the chain's head is stored.
    /// @param value The field's raw bytes; `salt` its salt; `proof` its Merkle proof (millchain.disclosure).
    /// @return valid Whether the field is one of the document's.
    /// @return verifiedInvoice Whether the document is THE verified invoice of its shipment: the last one
    /// submitted for it (no later submission replaced it) and verified by the tax platform. A rejected or replaced
    /// invoice's fields still verify (`valid`) as what the supplier once submitted, never as the invoice.
    function verifyDocumentField(
        Order calldata order,
        InvoiceLink[] calldata invoices,
        uint256 document,
        string calldata name,
        bytes calldata value,
        bytes32 salt,
        bytes32[] calldata proof
    ) external view returns (bool valid, bool verifiedInvoice);

    /// @notice What the buyer could be refunded now (0 before the order has ended).
    function refundable(bytes32 orderKey) external view returns (uint256);

    /// @notice What a quality claim has done to which order's retention.
    function claimUse(uint256 claimId) external view returns (bytes32 orderKey, ClaimUse use);

    /// @notice Units of `lotId` that receipts by inspection have counted so far, over every order (at most the
    /// lot's quantity): a lot's units are received by inspection once.
    function inspectedUnits(bytes32 lotId) external view returns (uint256);
}
