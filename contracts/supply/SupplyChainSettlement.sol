// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IQualityBonds} from "../interfaces/IQualityBonds.sol";
import {IQualityLedger} from "../interfaces/IQualityLedger.sol";
import {ISupplyChainSettlement} from "../interfaces/ISupplyChainSettlement.sol";
import {DisclosureLib} from "../libraries/DisclosureLib.sol";

/// @title SupplyChainSettlement
/// @notice Four-flow settlement of supply orders: pays the supplier in the transaction that completes the last
/// of contract, logistics, invoice and funds flows, once they agree. See ISupplyChainSettlement and
/// docs/contracts/supply-chain-settlement.md.
/// @dev Every function that can move tokens follows checks-effects-interactions: quality contract reads (views)
/// and checks, then state and events, then the token transfers; every transfer runs under the (transient)
/// reentrancy lock, so a token calling back cannot move tokens until it returns (see _pay). An order occupies five
/// slots grouped by the calls that touch them (the fifth zero until the first delivery), a shipment one; the
/// buyer is in the order key itself.
contract SupplyChainSettlement is ISupplyChainSettlement, AccessControl, EIP712, Nonces, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev An order. Slot boundaries are marked; see the storage table in the docs. The buyer is the top 160 bits
    /// of the order key (see _orderKey). The escrow is not stored: `unfunded` is what it can still take, so funding
    /// touches one slot and a settlement (which lowers escrow and the order's payable value alike) none of it:
    /// escrow = (quantity - settled) x unitPrice - unfunded.
    struct OrderRecord {
        // slot 0: what shipping and delivering read. `status` is None, Active, Closed or Void; see _status.
        address carrier;
        uint40 deliveryDeadline;
        OrderStatus status;
        uint16 shipmentCount;
        uint16 toleranceBps;
        bool qcRequired;
        // slot 1: the supplier's calls, and the price
        address supplier;
        uint96 unitPrice;
        // slot 2: what funding touches
        address token;
        uint96 unfunded;
        // slot 3: the documents chain (see _documents) and the terms settlement reads
        uint160 documents;
        uint48 quantity;
        uint32 warrantyPeriod;
        uint16 retentionBps;
        // slot 4: what deliveries and settlements write; all zero at creation, so creating writes four slots
        uint96 retention;
        uint48 settled;
        uint48 reserved;
        uint40 releaseAt;
        uint16 holds;
        // Set by the settlement that completes the order (status then reads Completed): kept here, in the slot
        // that settlement writes anyway, rather than in slot 0, which it would otherwise not touch.
        bool completed;
    }

    /// @dev A shipment, in one slot (8 + 8 + 8 + 48 + 48 + 96 + 40). The lots it carried are in its id (see
    /// _shipmentId). `deliveredAt` opens the buyer's receipt window (confirmReceiptByInspection).
    struct ShipmentRecord {
        ShipmentStatus status;
        Receipt receipt;
        InvoiceStatus invoice;
        uint48 delivered;
        uint48 received;
        uint96 invoiceAmount;
        uint40 deliveredAt;
    }

    /// @dev What a quality claim did, and to which order.
    struct ClaimRecord {
        bytes32 orderKey;
        ClaimUse use;
    }

    /// @inheritdoc ISupplyChainSettlement
    bytes32 public constant TAX_VERIFIER_ROLE = keccak256("TAX_VERIFIER_ROLE");

    /// @inheritdoc ISupplyChainSettlement
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");

    /// @inheritdoc ISupplyChainSettlement
    uint256 public constant MAX_LOTS = 32;

    /// @inheritdoc ISupplyChainSettlement
    uint32 public constant BUYER_RECEIPT_WINDOW = 2 days;

    uint256 private constant _BPS = 10_000;
    uint256 private constant _SEQUENCE_SHIFT = 240;

    bytes32 private constant _ORDER_TYPEHASH = keccak256(
        "Order(bytes32 orderId,address buyer,address supplier,address carrier,address token,bytes32 linesCommitment,"
        "uint48 quantity,uint96 unitPrice,uint96 total,uint40 deliveryDeadline,bool qcRequired,uint16 retentionBps,"
        "uint32 warrantyPeriod,uint16 toleranceBps)"
    );
    bytes32 private constant _SHIPMENT_TYPEHASH =
        keccak256("Shipment(bytes32 orderKey,uint48 quantity,bytes32[] lotIds,uint256 nonce,uint40 deadline)");
    bytes32 private constant _CHECKPOINT_TYPEHASH =
        keccak256("Checkpoint(bytes32 orderKey,uint256 shipmentId,bytes32 commitment,uint256 nonce,uint40 deadline)");
    bytes32 private constant _DELIVERY_TYPEHASH =
        keccak256("Delivery(bytes32 orderKey,uint256 shipmentId,uint48 quantity,uint256 nonce,uint40 deadline)");

    /// @inheritdoc ISupplyChainSettlement
    IQualityLedger public immutable LEDGER;

    /// @inheritdoc ISupplyChainSettlement
    IQualityBonds public immutable BONDS;

    // Both mappings are written through storage pointers (`OrderRecord storage o = _orders[key]; o.carrier = …`),
    // which Slither's uninitialized-state detector does not follow.
    // slither-disable-next-line uninitialized-state
    mapping(bytes32 orderKey => OrderRecord) private _orders;
    mapping(bytes32 orderKey => mapping(uint256 shipmentId => ShipmentRecord)) private _shipments;
    // slither-disable-next-line uninitialized-state
    mapping(uint256 claimId => ClaimRecord) private _claims;
    /// @dev Per lot, the units receipts by inspection have counted (confirmReceiptByInspection).
    mapping(bytes32 lotId => uint256 units) private _inspectedUnits;

    /// @param admin Account granted DEFAULT_ADMIN_ROLE, and on development chains the tax-verifier and arbiter
    /// roles too (production grants those to the platform and the arbiter, then revokes them from the admin).
    /// @param ledger The quality ledger whose pass attestations count as receipt (0: QC receipts disabled).
    /// @param bonds The quality bonds whose claims draw retention (0: claims disabled).
    constructor(address admin, IQualityLedger ledger, IQualityBonds bonds) EIP712("SupplyChainSettlement", "1") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(TAX_VERIFIER_ROLE, admin);
        _grantRole(ARBITER_ROLE, admin);
        LEDGER = ledger;
        BONDS = bonds;
    }

    // ---------------------------------------------------------------- contract flow

    /// @inheritdoc ISupplyChainSettlement
    function createOrder(
        Order calldata order,
        bytes calldata buyerSignature,
        bytes calldata supplierSignature,
        uint256 funding
    ) external returns (bytes32 orderKey) {
        orderKey = _orderKey(order.buyer, order.supplier, order.orderId);
        OrderRecord storage o = _orders[orderKey];
        if (o.status != OrderStatus.None) revert SupplyChainSettlementOrderExists(orderKey, _status(o));
        _checkTerms(order);
        bytes32 structHash = _orderStructHash(order);
        bytes32 digest = _hashTypedDataV4(structHash);
        _checkSignature(order.buyer, digest, buyerSignature);
        _checkSignature(order.supplier, digest, supplierSignature);

        _store(o, order, structHash);
        emit OrderCreated(orderKey, order.orderId, order.buyer, order.supplier, order.carrier, order.linesCommitment);
        if (funding != 0) _fund(orderKey, o, funding, 0);
    }

    /// @inheritdoc ISupplyChainSettlement
    function voidOrder(address buyer, address supplier, bytes32 orderId) external {
        if (msg.sender != buyer && msg.sender != supplier) {
            revert SupplyChainSettlementUnauthorized(bytes32(0), Party.BuyerOrSupplier, msg.sender);
        }
        bytes32 orderKey = _orderKey(buyer, supplier, orderId);
        OrderRecord storage o = _orders[orderKey];
        if (o.status != OrderStatus.None) revert SupplyChainSettlementOrderExists(orderKey, _status(o));
        o.status = OrderStatus.Void;
        emit OrderVoided(orderKey, orderId, msg.sender);
    }

    // ---------------------------------------------------------------- funds

    /// @inheritdoc ISupplyChainSettlement
    function fund(bytes32 orderKey, uint256 amount, uint256 settleShipment) external {
        _fund(orderKey, _funded(orderKey), amount, settleShipment);
    }

    /// @inheritdoc ISupplyChainSettlement
    function fundWithPermit(
        bytes32 orderKey,
        uint256 amount,
        uint256 settleShipment,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        // A permit someone front-ran is already spent; the allowance it set is what counts, so a failed permit
        // is ignored and the transfer decides (OpenZeppelin's recommended pattern).
        OrderRecord storage o = _funded(orderKey);
        try IERC20Permit(o.token).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _fund(orderKey, o, amount, settleShipment);
    }

    /// @inheritdoc ISupplyChainSettlement
    function refund(bytes32 orderKey) external {
        OrderRecord storage o = _existing(orderKey);
        if (!_ended(o)) revert SupplyChainSettlementOrderNotEnded(orderKey, o.deliveryDeadline);
        uint256 escrow = _escrow(o);
        uint256 reservedValue = _reservedValue(o);
        if (escrow <= reservedValue) revert SupplyChainSettlementNothingToRefund(orderKey, escrow, reservedValue);
        uint256 amount = escrow - reservedValue;
        // unfunded + escrow is the order's payable value, which fits in 96 bits.
        o.unfunded += uint96(amount);
        address buyer = _buyer(orderKey);
        emit EscrowRefunded(orderKey, buyer, amount);
        _pay(o.token, buyer, amount);
    }

    // ---------------------------------------------------------------- logistics flow

    /// @inheritdoc ISupplyChainSettlement
    function ship(bytes32 orderKey, uint48 quantity, bytes32[] calldata lotIds) external returns (uint256) {
        OrderRecord storage o = _byCarrier(orderKey);
        return _ship(orderKey, o, quantity, lotIds);
    }

    /// @inheritdoc ISupplyChainSettlement
    function checkpoint(bytes32 orderKey, uint256 shipmentId, bytes32 commitment) external {
        _byCarrier(orderKey);
        _checkpoint(orderKey, shipmentId, commitment);
    }

    /// @inheritdoc ISupplyChainSettlement
    function deliver(bytes32 orderKey, uint256 shipmentId, uint48 quantity) external {
        OrderRecord storage o = _byCarrier(orderKey);
        _deliver(orderKey, o, shipmentId, quantity);
    }

    /// @inheritdoc ISupplyChainSettlement
    function shipBySig(
        bytes32 orderKey,
        uint48 quantity,
        bytes32[] calldata lotIds,
        uint256 nonce,
        uint40 deadline,
        bytes calldata signature
    ) external returns (uint256) {
        OrderRecord storage o = _carrierSigned(
            _SHIPMENT_TYPEHASH, orderKey, quantity, uint256(keccak256(abi.encodePacked(lotIds))), nonce, deadline,
            signature
        );
        return _ship(orderKey, o, quantity, lotIds);
    }

    /// @inheritdoc ISupplyChainSettlement
    function checkpointBySig(
        bytes32 orderKey,
        uint256 shipmentId,
        bytes32 commitment,
        uint256 nonce,
        uint40 deadline,
        bytes calldata signature
    ) external {
        _carrierSigned(_CHECKPOINT_TYPEHASH, orderKey, shipmentId, uint256(commitment), nonce, deadline, signature);
        _checkpoint(orderKey, shipmentId, commitment);
    }

    /// @inheritdoc ISupplyChainSettlement
    function deliverBySig(
        bytes32 orderKey,
        uint256 shipmentId,
        uint48 quantity,
        uint256 nonce,
        uint40 deadline,
        bytes calldata signature
    ) external {
        OrderRecord storage o =
            _carrierSigned(_DELIVERY_TYPEHASH, orderKey, shipmentId, quantity, nonce, deadline, signature);
        _deliver(orderKey, o, shipmentId, quantity);
    }

    /// @inheritdoc ISupplyChainSettlement
    function confirmReceipt(bytes32 orderKey, uint256 shipmentId, uint48 quantity) external {
        // The buyer is in the key and a shipment exists only in a created order (_shipment names an unknown
        // one): no order slot to read.
        if (msg.sender != _buyer(orderKey)) {
            _existing(orderKey);
            revert SupplyChainSettlementUnauthorized(orderKey, Party.Buyer, msg.sender);
        }
        ShipmentRecord storage s = _openShipment(orderKey, shipmentId);
        if (s.receipt != Receipt.None) revert SupplyChainSettlementAlreadyReceived(orderKey, shipmentId, s.receipt);
        s.received = quantity;
        s.receipt = Receipt.Buyer;
        emit GoodsReceived(orderKey, shipmentId, quantity, Receipt.Buyer);
        _trySettle(orderKey, shipmentId, s, false);
    }

    /// @inheritdoc ISupplyChainSettlement
    function confirmReceiptByInspection(
        bytes32 orderKey,
        uint256 shipmentId,
        bytes32[] calldata lotIds,
        uint32[] calldata seqs
    ) external {
        IQualityLedger ledger = _ledger();
        OrderRecord storage o = _existing(orderKey);
        if (!o.qcRequired) revert SupplyChainSettlementInspectionNotRequired(orderKey);
        ShipmentRecord storage s = _shipmentIn(orderKey, shipmentId, ShipmentStatus.Delivered);
        if (s.receipt != Receipt.None) revert SupplyChainSettlementAlreadyReceived(orderKey, shipmentId, s.receipt);
        if (msg.sender != _buyer(orderKey)) {
            // The buyer's own window first: it may inspect on arrival and confirm (or refuse) the receipt itself.
            uint40 opensAt = s.deliveredAt + BUYER_RECEIPT_WINDOW;
            if (block.timestamp < opensAt) {
                revert SupplyChainSettlementBuyerReceiptWindow(orderKey, shipmentId, opensAt);
            }
        }
        _checkLots(orderKey, shipmentId, lotIds);
        if (lotIds.length != seqs.length) revert SupplyChainSettlementLengthMismatch(lotIds.length, seqs.length);
        bytes32 supplierOrg = ledger.affiliationOf(o.supplier);
        uint48 quantity = s.delivered;
        // A carrier's figure is paid only up to what the passed lots still hold (the supplier may be its own
        // carrier): each unit received by inspection is taken from one lot, in list order, for good, so a lot
        // listed twice or in shipment after shipment never backs more units than it has. (The ledger calls are
        // views: nothing can re-enter between the writes.)
        uint256 short = quantity;
        for (uint256 i = 0; i < lotIds.length; ++i) {
            bytes32 lotId = lotIds[i];
            uint256 take = _checkPassed(ledger, lotId, seqs[i], supplierOrg);
            uint256 used = _inspectedUnits[lotId];
            // used <= the lot's (fixed) quantity: only this loop raises it, never past it; take <= short.
            unchecked {
                take -= used;
                if (take > short) take = short;
                _inspectedUnits[lotId] = used + take;
                short -= take;
            }
        }
        if (short != 0) {
            revert SupplyChainSettlementDeliveredExceedsLots(orderKey, shipmentId, quantity, quantity - short);
        }
        s.received = quantity;
        s.receipt = Receipt.Inspection;
        emit GoodsReceived(orderKey, shipmentId, quantity, Receipt.Inspection);
        _trySettle(orderKey, shipmentId, s, false);
    }

    // ---------------------------------------------------------------- invoice flow

    /// @inheritdoc ISupplyChainSettlement
    function submitInvoice(bytes32 orderKey, uint256 shipmentId, uint96 amount, uint96 taxAmount, bytes32 commitment)
        external
    {
        OrderRecord storage o = _orders[orderKey];
        _requireParty(_existingParty(o.supplier, orderKey), orderKey, Party.Supplier);
        ShipmentRecord storage s = _openShipment(orderKey, shipmentId);
        if (s.invoice == InvoiceStatus.Submitted) {
            revert SupplyChainSettlementUnexpectedInvoiceStatus(orderKey, shipmentId, InvoiceStatus.Submitted);
        }
        if (taxAmount > amount) revert SupplyChainSettlementTaxExceedsAmount(taxAmount, amount);
        s.invoice = InvoiceStatus.Submitted;
        s.invoiceAmount = amount;
        o.documents = _documents(o.documents, InvoiceLink(shipmentId, amount, taxAmount, commitment));
        emit InvoiceSubmitted(orderKey, shipmentId, amount, taxAmount, commitment);
    }

    /// @inheritdoc ISupplyChainSettlement
    function verifyInvoice(bytes32 orderKey, uint256 shipmentId) external onlyRole(TAX_VERIFIER_ROLE) {
        ShipmentRecord storage s = _submittedInvoice(orderKey, shipmentId);
        s.invoice = InvoiceStatus.Verified;
        emit InvoiceVerified(orderKey, shipmentId, msg.sender);
        _trySettle(orderKey, shipmentId, s, false);
    }

    /// @inheritdoc ISupplyChainSettlement
    function rejectInvoice(bytes32 orderKey, uint256 shipmentId, bytes32 reasonCommitment)
        external
        onlyRole(TAX_VERIFIER_ROLE)
    {
        _submittedInvoice(orderKey, shipmentId).invoice = InvoiceStatus.Rejected;
        emit InvoiceRejected(orderKey, shipmentId, msg.sender, reasonCommitment);
    }

    // ---------------------------------------------------------------- settlement and retention

    /// @inheritdoc ISupplyChainSettlement
    function settle(bytes32 orderKey, uint256 shipmentId) external {
        // A shipment exists only in a created, never voided order (_shipment names an unknown order).
        _trySettle(orderKey, shipmentId, _shipment(orderKey, shipmentId), true);
    }

    /// @inheritdoc ISupplyChainSettlement
    function releaseRetention(bytes32 orderKey) external {
        OrderRecord storage o = _existing(orderKey);
        uint256 amount = _retention(orderKey, o);
        if (block.timestamp < o.releaseAt || o.holds != 0) {
            revert SupplyChainSettlementRetentionLocked(orderKey, o.releaseAt, o.holds);
        }
        o.retention = 0;
        address supplier = o.supplier;
        emit RetentionReleased(orderKey, supplier, amount);
        _pay(o.token, supplier, amount);
    }

    /// @inheritdoc ISupplyChainSettlement
    function applyQualityClaim(bytes32 orderKey, uint256 shipmentId, bytes32[] calldata lotIds, uint256 claimId)
        external
    {
        IQualityBonds bonds = BONDS;
        IQualityLedger ledger = _ledger();
        if (address(bonds) == address(0)) revert SupplyChainSettlementQualityNotConfigured();
        OrderRecord storage o = _existing(orderKey);
        _shipment(orderKey, shipmentId);
        _checkLots(orderKey, shipmentId, lotIds);
        IQualityBonds.Claim memory c = bonds.claim(claimId);
        _checkClaimOnLots(claimId, c.lotId, lotIds);
        ClaimRecord storage record = _claims[claimId];
        ClaimUse use = record.use;
        // A hold on this order was checked against the parties when it was placed: lifting or drawing it never
        // depends on anyone's membership since. Otherwise the parties are their permanent affiliations, which no
        // membership change moves (QualityLedger.affiliationOf).
        if (use != ClaimUse.Holding || record.orderKey != orderKey) _checkClaimParties(ledger, o, orderKey, claimId, c);
        if (use != ClaimUse.None && (use != ClaimUse.Holding || record.orderKey != orderKey)) {
            revert SupplyChainSettlementClaimAlreadyApplied(claimId, record.orderKey, use);
        }
        IQualityBonds.ClaimStatus status = c.status;
        if (status == IQualityBonds.ClaimStatus.Filed || status == IQualityBonds.ClaimStatus.Disputed) {
            if (use == ClaimUse.Holding) revert SupplyChainSettlementClaimAlreadyApplied(claimId, orderKey, use);
            _requireWithinWarranty(o, claimId, c.filedAt);
            record.orderKey = orderKey;
            record.use = ClaimUse.Holding;
            o.holds += 1;
            emit RetentionHeld(orderKey, claimId);
        } else if (status == IQualityBonds.ClaimStatus.Paid) {
            if (use == ClaimUse.None) {
                _requireWithinWarranty(o, claimId, c.filedAt);
                _retention(orderKey, o);
            } else {
                o.holds -= 1;
            }
            _drawRetention(orderKey, o, record, claimId, c, ledger);
        } else {
            if (use != ClaimUse.Holding) revert SupplyChainSettlementClaimNotApplicable(claimId, status);
            // A lapsed claim's basis was corrected; the claim its claimant moved onto the correction (its latest
            // on the lot, with the same filing time) inherits the hold here, so nobody can lift and release in
            // between. Whatever that claim's status, applying it later resolves the hold as for any other. A
            // later, unrelated claim (its own filing time) does not: it may be outside the warranty.
            uint256 successor = 0;
            if (status == IQualityBonds.ClaimStatus.Lapsed) {
                successor = bonds.claimOf(c.lotId, c.claimant);
                if (
                    successor == claimId || _claims[successor].use != ClaimUse.None
                        || bonds.claim(successor).filedAt != c.filedAt
                ) successor = 0;
            }
            record.use = ClaimUse.Dropped;
            emit RetentionHoldLifted(orderKey, claimId);
            if (successor != 0) {
                _claims[successor] = ClaimRecord({orderKey: orderKey, use: ClaimUse.Holding});
                emit RetentionHeld(orderKey, successor);
            } else {
                o.holds -= 1;
            }
        }
    }

    // ---------------------------------------------------------------- arbiter

    /// @inheritdoc ISupplyChainSettlement
    function arbitrateShipment(bytes32 orderKey, uint256 shipmentId, uint48 acceptedQuantity, bytes32 rulingCommitment)
        external
        onlyRole(ARBITER_ROLE)
    {
        OrderRecord storage o = _existing(orderKey);
        ShipmentRecord storage s = _openShipment(orderKey, shipmentId);
        if (s.status == ShipmentStatus.InTransit) {
            // The ruling establishes the delivery too, and reserves it against refunds like a delivery would.
            s.status = ShipmentStatus.Delivered;
            s.delivered = acceptedQuantity;
            o.reserved += acceptedQuantity;
        }
        s.received = acceptedQuantity;
        s.receipt = Receipt.Arbiter;
        emit ShipmentArbitrated(orderKey, shipmentId, msg.sender, acceptedQuantity, rulingCommitment);
        _trySettle(orderKey, shipmentId, s, false);
    }

    /// @inheritdoc ISupplyChainSettlement
    function arbitrateRetention(bytes32 orderKey, uint256 toBuyer, bytes32 rulingCommitment)
        external
        onlyRole(ARBITER_ROLE)
    {
        OrderRecord storage o = _existing(orderKey);
        uint256 retention = _retention(orderKey, o);
        if (toBuyer > retention) revert SupplyChainSettlementAwardExceedsRetention(orderKey, toBuyer, retention);
        o.retention = 0;
        uint256 toSupplier = retention - toBuyer;
        emit RetentionArbitrated(orderKey, msg.sender, toBuyer, toSupplier, rulingCommitment);
        address token = o.token;
        if (toBuyer != 0) _pay(token, _buyer(orderKey), toBuyer);
        if (toSupplier != 0) _pay(token, o.supplier, toSupplier);
    }

    /// @inheritdoc ISupplyChainSettlement
    function closeOrder(bytes32 orderKey, bytes32 rulingCommitment) external onlyRole(ARBITER_ROLE) {
        OrderRecord storage o = _existing(orderKey);
        _requireActive(orderKey, o);
        o.status = OrderStatus.Closed;
        emit OrderClosed(orderKey, msg.sender, rulingCommitment);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ISupplyChainSettlement
    function orderState(bytes32 orderKey) external view returns (OrderState memory view_) {
        OrderRecord storage o = _existing(orderKey);
        view_.status = _status(o);
        view_.buyer = _buyer(orderKey);
        view_.supplier = o.supplier;
        view_.carrier = o.carrier;
        view_.token = o.token;
        view_.quantity = o.quantity;
        view_.unitPrice = o.unitPrice;
        view_.deliveryDeadline = o.deliveryDeadline;
        view_.qcRequired = o.qcRequired;
        view_.retentionBps = o.retentionBps;
        view_.warrantyPeriod = o.warrantyPeriod;
        view_.toleranceBps = o.toleranceBps;
        view_.shipmentCount = o.shipmentCount;
        view_.escrow = uint96(_escrow(o));
        view_.retention = o.retention;
        view_.settled = o.settled;
        view_.reserved = o.reserved;
        view_.releaseAt = o.releaseAt;
        view_.holds = o.holds;
    }

    /// @inheritdoc ISupplyChainSettlement
    function shipment(bytes32 orderKey, uint256 shipmentId) external view returns (ShipmentState memory) {
        // A shipment exists only in a created, never voided order (_shipment names an unknown order).
        ShipmentRecord storage s = _shipment(orderKey, shipmentId);
        return ShipmentState({
            status: s.status,
            receipt: s.receipt,
            invoice: s.invoice,
            delivered: s.delivered,
            received: s.received,
            invoiceAmount: s.invoiceAmount
        });
    }

    /// @inheritdoc ISupplyChainSettlement
    function orderStatus(bytes32 orderKey) external view returns (OrderStatus) {
        return _status(_orders[orderKey]);
    }

    /// @inheritdoc ISupplyChainSettlement
    function orderKeyOf(address buyer, address supplier, bytes32 orderId) external pure returns (bytes32) {
        return _orderKey(buyer, supplier, orderId);
    }

    /// @inheritdoc ISupplyChainSettlement
    function orderDigest(Order calldata order) external view returns (bytes32) {
        return _hashTypedDataV4(_orderStructHash(order));
    }

    /// @inheritdoc ISupplyChainSettlement
    function documents(bytes32 orderKey) external view returns (bytes20) {
        return bytes20(_existing(orderKey).documents);
    }

    /// @inheritdoc ISupplyChainSettlement
    function verifyDocumentField(
        Order calldata order,
        InvoiceLink[] calldata invoices,
        uint256 document,
        string calldata name,
        bytes calldata value,
        bytes32 salt,
        bytes32[] calldata proof
    ) external view returns (bool valid, bool verifiedInvoice) {
        bytes32 root;
        {
            bytes32 orderKey = _checkDocuments(order, invoices);
            if (document > invoices.length) revert SupplyChainSettlementUnknownDocument(document, invoices.length);
            if (document == 0) {
                root = order.linesCommitment;
            } else {
                root = invoices[document - 1].commitment;
                verifiedInvoice = _isVerifiedInvoice(orderKey, invoices, document);
            }
        }
        valid = DisclosureLib.verifyFieldCalldata(root, name, value, salt, proof);
    }

    /// @dev `order` and `invoices` hash to the order's documents chain; returns the order's key.
    function _checkDocuments(Order calldata order, InvoiceLink[] calldata invoices)
        private
        view
        returns (bytes32 orderKey)
    {
        orderKey = _orderKey(order.buyer, order.supplier, order.orderId);
        uint160 chain = uint160(uint256(_orderStructHash(order)));
        for (uint256 i = 0; i < invoices.length; ++i) {
            chain = _documents(chain, invoices[i]);
        }
        if (chain != _existing(orderKey).documents) revert SupplyChainSettlementDocumentsMismatch(orderKey);
    }

    /// @dev Invoice `document` (1-based in `invoices`, the order's whole chain) is its shipment's current invoice
    /// (no later link names the same shipment: a resubmission replaces a rejected or unsettled one) and verified.
    /// The loop runs over calldata only.
    function _isVerifiedInvoice(bytes32 orderKey, InvoiceLink[] calldata invoices, uint256 document)
        private
        view
        returns (bool)
    {
        uint256 shipmentId = invoices[document - 1].shipmentId;
        for (uint256 i = document; i < invoices.length; ++i) {
            if (invoices[i].shipmentId == shipmentId) return false;
        }
        return _shipments[orderKey][shipmentId].invoice == InvoiceStatus.Verified;
    }

    /// @inheritdoc ISupplyChainSettlement
    function refundable(bytes32 orderKey) external view returns (uint256) {
        OrderRecord storage o = _existing(orderKey);
        if (!_ended(o)) return 0;
        uint256 escrow = _escrow(o);
        uint256 reservedValue = _reservedValue(o);
        return escrow > reservedValue ? escrow - reservedValue : 0;
    }

    /// @inheritdoc ISupplyChainSettlement
    function inspectedUnits(bytes32 lotId) external view returns (uint256) {
        return _inspectedUnits[lotId];
    }

    /// @inheritdoc ISupplyChainSettlement
    function claimUse(uint256 claimId) external view returns (bytes32 orderKey, ClaimUse use) {
        ClaimRecord storage record = _claims[claimId];
        return (record.orderKey, record.use);
    }

    // ---------------------------------------------------------------- internals: flows

    /// @dev Adds to the escrow. A completed order can take nothing: its maximum is 0.
    function _fund(bytes32 orderKey, OrderRecord storage o, uint256 amount, uint256 settleShipment) private {
        if (amount == 0) revert SupplyChainSettlementZeroAmount();
        uint256 unfunded = o.unfunded;
        if (amount > unfunded) {
            revert SupplyChainSettlementOverfunded(orderKey, _escrow(o) + amount, _payable(o));
        }
        // amount <= unfunded.
        unchecked {
            unfunded -= amount;
        }
        o.unfunded = uint96(unfunded);
        emit EscrowFunded(orderKey, msg.sender, amount, unfunded);
        // The pull comes before the settlement below so that the tokens it pays out are already here.
        _pull(o.token, amount);
        if (settleShipment != 0) _trySettle(orderKey, settleShipment, _shipment(orderKey, settleShipment), false);
    }

    function _ship(bytes32 orderKey, OrderRecord storage o, uint48 quantity, bytes32[] calldata lotIds)
        private
        returns (uint256 shipmentId)
    {
        _requireActive(orderKey, o);
        if (block.timestamp > o.deliveryDeadline) revert SupplyChainSettlementOrderEnded(orderKey, o.deliveryDeadline);
        if (quantity == 0) revert SupplyChainSettlementZeroQuantity(orderKey);
        uint256 lots = lotIds.length;
        if (lots > MAX_LOTS || (lots == 0 && o.qcRequired)) {
            revert SupplyChainSettlementInvalidLotCount(lots, MAX_LOTS);
        }
        uint16 count = o.shipmentCount;
        if (count == type(uint16).max) revert SupplyChainSettlementTooManyShipments(orderKey);
        // count < type(uint16).max.
        unchecked {
            ++count;
        }
        o.shipmentCount = count;
        shipmentId = _shipmentId(count, lotIds);
        _shipments[orderKey][shipmentId].status = ShipmentStatus.InTransit;
        emit GoodsShipped(orderKey, shipmentId, quantity, lotIds);
    }

    function _checkpoint(bytes32 orderKey, uint256 shipmentId, bytes32 commitment) private {
        ShipmentRecord storage s = _shipmentIn(orderKey, shipmentId, ShipmentStatus.InTransit);
        emit CheckpointRecorded(orderKey, shipmentId, commitment);
    }

    function _deliver(bytes32 orderKey, OrderRecord storage o, uint256 shipmentId, uint48 quantity) private {
        if (_ended(o)) revert SupplyChainSettlementOrderEnded(orderKey, o.deliveryDeadline);
        if (quantity == 0) revert SupplyChainSettlementZeroQuantity(orderKey);
        ShipmentRecord storage s = _shipmentIn(orderKey, shipmentId, ShipmentStatus.InTransit);
        s.status = ShipmentStatus.Delivered;
        s.delivered = quantity;
        s.deliveredAt = uint40(block.timestamp);
        o.reserved += quantity;
        emit GoodsDelivered(orderKey, shipmentId, quantity);
        // Without a receipt the logistics flow is still open: nothing to try (the common case).
        if (s.receipt != Receipt.None) _trySettle(orderKey, shipmentId, s, false);
    }

    /// @dev The settlement check. Does nothing (or, when `strict`, reverts naming the flow) while a flow is
    /// missing; emits one SettlementMismatched per disagreeing flow and moves nothing; otherwise pays.
    function _trySettle(bytes32 orderKey, uint256 shipmentId, ShipmentRecord storage s, bool strict) private {
        ShipmentStatus status = s.status;
        if (status == ShipmentStatus.Settled) {
            if (strict) revert SupplyChainSettlementUnexpectedShipmentStatus(orderKey, shipmentId, status);
            return;
        }
        Receipt receipt = s.receipt;
        uint48 received = s.received;
        InvoiceStatus invoice = s.invoice;
        {
            // Set on every path below before it is read (the branches name the flow still missing).
            // slither-disable-next-line uninitialized-local
            Flow pending;
            bool missing = true;
            if (receipt == Receipt.None || (status != ShipmentStatus.Delivered && receipt != Receipt.Arbiter)) {
                pending = Flow.Logistics;
            } else if (invoice != InvoiceStatus.Verified && (received != 0 || invoice == InvoiceStatus.Submitted)) {
                pending = Flow.Invoice;
            } else {
                missing = false;
            }
            if (missing) {
                if (strict) revert SupplyChainSettlementFlowPending(orderKey, shipmentId, pending);
                return;
            }
        }

        OrderRecord storage o = _orders[orderKey];
        uint256 unitPrice = o.unitPrice;
        uint256 remaining = o.quantity - o.settled;
        uint256 due = uint256(received) * unitPrice;
        if (!_flowsAgree(orderKey, shipmentId, o, s, due, remaining, remaining * unitPrice - o.unfunded)) return;

        uint256 retained = due * o.retentionBps / _BPS;
        uint256 paid = due - retained;
        s.status = ShipmentStatus.Settled;
        // _flowsAgree checked escrow >= due and settled + received <= quantity; retention + retained stays below
        // the order's most payable, which fits in 96 bits. The escrow drops by `due` as the order's payable
        // value does: `unfunded` stays.
        o.retention += uint96(retained);
        o.settled += received;
        if (status == ShipmentStatus.Delivered) o.reserved -= s.delivered;
        if (due != 0) o.releaseAt = uint40(block.timestamp) + o.warrantyPeriod;
        emit ShipmentSettled(orderKey, shipmentId, received, paid, retained);
        if (received == remaining) {
            o.completed = true;
            emit OrderCompleted(orderKey);
        }
        if (paid != 0) _pay(o.token, o.supplier, paid);
    }

    /// @dev Pays out under the reentrancy lock. Locking the transfers rather than the entry points gives the
    /// same protection (state is final before every transfer, and a call back into any path that moves tokens
    /// reverts while one is in flight) without the lock's cost on calls that move nothing: shipping, delivering
    /// and receiving without settling, creating without funding.
    function _pay(address token, address to, uint256 amount) private nonReentrant {
        IERC20(token).safeTransfer(to, amount);
    }

    /// @dev Pulls `amount` from the caller under the reentrancy lock (see _pay).
    function _pull(address token, uint256 amount) private nonReentrant {
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @dev Emits SettlementMismatched; returns false (the flows do not agree). One emitting site for the four
    /// flows keeps the contract under the 24 KiB code size limit.
    function _mismatch(bytes32 orderKey, uint256 shipmentId, Flow flow, uint256 expected, uint256 actual)
        private
        returns (bool)
    {
        emit SettlementMismatched(orderKey, shipmentId, flow, expected, actual);
        return false;
    }

    /// @dev Emits a SettlementMismatched for each flow that disagrees; true when none does.
    function _flowsAgree(
        bytes32 orderKey,
        uint256 shipmentId,
        OrderRecord storage o,
        ShipmentRecord storage s,
        uint256 due,
        uint256 remaining,
        uint256 escrow
    ) private returns (bool agree) {
        agree = true;
        uint256 received = s.received;
        if (s.receipt != Receipt.Arbiter) {
            uint256 delivered = s.delivered;
            uint256 difference = delivered > received ? delivered - received : received - delivered;
            // The tolerance is read only when it matters.
            if (difference != 0 && difference * _BPS > delivered * o.toleranceBps) {
                agree = _mismatch(orderKey, shipmentId, Flow.Logistics, delivered, received);
            }
        }
        if (received > remaining) {
            agree = _mismatch(orderKey, shipmentId, Flow.Contract, remaining, received);
        }
        if (s.invoice == InvoiceStatus.Verified && s.invoiceAmount != due) {
            agree = _mismatch(orderKey, shipmentId, Flow.Invoice, due, s.invoiceAmount);
        }
        if (escrow < due) {
            agree = _mismatch(orderKey, shipmentId, Flow.Funds, due, escrow);
        }
    }

    function _drawRetention(
        bytes32 orderKey,
        OrderRecord storage o,
        ClaimRecord storage record,
        uint256 claimId,
        IQualityBonds.Claim memory c,
        IQualityLedger ledger
    ) private {
        uint256 defects = ledger.attestation(c.lotId, c.seq).defects;
        // The price of the defective units found, scaled by the share of the claim that was upheld.
        uint256 amount = c.amount == 0 ? 0 : Math.mulDiv(defects * o.unitPrice, c.paid, c.amount);
        uint256 retention = o.retention;
        if (amount > retention) amount = retention;
        record.orderKey = orderKey;
        record.use = ClaimUse.Drawn;
        // amount <= retention, a uint96.
        o.retention = uint96(retention - amount);
        address buyer = _buyer(orderKey);
        emit RetentionDrawn(orderKey, claimId, buyer, amount);
        if (amount != 0) _pay(o.token, buyer, amount);
    }

    // ---------------------------------------------------------------- internals: checks

    function _checkTerms(Order calldata order) private view {
        if (
            order.buyer == address(0) || order.supplier == address(0) || order.carrier == address(0)
                || order.token == address(0)
        ) revert SupplyChainSettlementZeroAddress();
        if (order.buyer == order.supplier) revert SupplyChainSettlementSameParty(order.buyer);
        if (order.quantity == 0 || order.unitPrice == 0) {
            revert SupplyChainSettlementEmptyOrder(order.quantity, order.unitPrice);
        }
        // At most 2**48 x 2**96: no overflow in 256 bits. The total is a uint96, so equality also proves that
        // every amount of the order (all at most quantity x unitPrice) fits the 96-bit escrow and retention.
        uint256 computed = uint256(order.quantity) * order.unitPrice;
        if (computed != order.total) revert SupplyChainSettlementTotalMismatch(order.total, computed);
        if (
            order.retentionBps > _BPS || order.toleranceBps > _BPS
                || (order.retentionBps != 0 && order.warrantyPeriod == 0)
        ) revert SupplyChainSettlementInvalidTerms(order.retentionBps, order.warrantyPeriod, order.toleranceBps);
        if (block.timestamp > order.deliveryDeadline) {
            revert SupplyChainSettlementOrderEnded(bytes32(0), order.deliveryDeadline);
        }
    }

    /// @dev ECDSA first (an EOA, or an EIP-7702 account signing with its key), ERC-1271 when that fails: the
    /// common case costs no code-size lookup.
    function _checkSignature(address signer, bytes32 digest, bytes calldata signature) private view {
        // The third value only details `error`, which is checked.
        // slither-disable-next-line unused-return
        (address recovered, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, signature);
        if (error == ECDSA.RecoverError.NoError && recovered == signer) return;
        if (!SignatureChecker.isValidERC1271SignatureNow(signer, digest, signature)) {
            revert SupplyChainSettlementInvalidSignature(signer);
        }
    }

    /// @dev The existing order `orderKey`, once its carrier's signature of the typed struct (`typehash`, orderKey,
    /// `first`, `second`, nonce, deadline) checks out and uses the nonce. The three carrier structs share that
    /// shape (each member one word), so one helper hashes them all: three copies would push the contract over the
    /// 24 KiB code size limit.
    function _carrierSigned(
        bytes32 typehash,
        bytes32 orderKey,
        uint256 first,
        uint256 second,
        uint256 nonce,
        uint40 deadline,
        bytes calldata signature
    ) private returns (OrderRecord storage o) {
        o = _existing(orderKey);
        if (block.timestamp > deadline) revert SupplyChainSettlementSignatureExpired(deadline);
        address carrier = o.carrier;
        uint256 expected = _useNonce(carrier);
        if (nonce != expected) revert SupplyChainSettlementInvalidNonce(carrier, nonce, expected);
        bytes32 structHash = keccak256(abi.encode(typehash, orderKey, first, second, nonce, deadline));
        _checkSignature(carrier, _hashTypedDataV4(structHash), signature);
    }

    /// @dev The lots a shipment carried are proved by its id, which holds their digest.
    function _checkLots(bytes32 orderKey, uint256 shipmentId, bytes32[] calldata lotIds) private pure {
        if (lotIds.length == 0 || _shipmentId(uint16(shipmentId >> _SEQUENCE_SHIFT), lotIds) != shipmentId) {
            revert SupplyChainSettlementLotsMismatch(orderKey, shipmentId);
        }
    }

    /// @dev Attestation `seq` of `lotId` is a current, independent Pass and the lot's latest independent record,
    /// and the lot is the supplier's; returns the lot's quantity.
    function _checkPassed(IQualityLedger ledger, bytes32 lotId, uint32 seq, bytes32 supplierOrg)
        private
        view
        returns (uint256)
    {
        IQualityLedger.Attestation memory a = ledger.attestation(lotId, seq);
        if (a.outcome != IQualityLedger.Outcome.Pass || a.supersededBy != 0 || !a.independent) {
            revert SupplyChainSettlementInspectionNotPassed(lotId, seq, a.outcome, a.supersededBy, a.independent);
        }
        uint32 latest = ledger.latestIndependent(lotId);
        if (seq != latest) revert SupplyChainSettlementInspectionNotLatest(lotId, seq, latest);
        IQualityLedger.Lot memory l = ledger.lot(lotId);
        if (l.producer != supplierOrg) revert SupplyChainSettlementLotOfOtherProducer(lotId, l.producer, supplierOrg);
        return l.quantity;
    }

    /// @dev Claim `c` was filed by the buyer's organisation against a lot of the supplier's.
    function _checkClaimParties(
        IQualityLedger ledger,
        OrderRecord storage o,
        bytes32 orderKey,
        uint256 claimId,
        IQualityBonds.Claim memory c
    ) private view {
        bytes32 buyerOrg = ledger.affiliationOf(_buyer(orderKey));
        if (c.claimant != buyerOrg) revert SupplyChainSettlementClaimByOtherOrganisation(claimId, c.claimant, buyerOrg);
        // The carrier lists the lots: only a defect of the supplier's own lot may touch the supplier's retention.
        bytes32 supplierOrg = ledger.affiliationOf(o.supplier);
        if (c.supplier != supplierOrg) revert SupplyChainSettlementLotOfOtherProducer(c.lotId, c.supplier, supplierOrg);
    }

    function _checkClaimOnLots(uint256 claimId, bytes32 lotId, bytes32[] calldata lotIds) private pure {
        for (uint256 i = 0; i < lotIds.length; ++i) {
            if (lotIds[i] == lotId) return;
        }
        revert SupplyChainSettlementClaimNotOnOrder(claimId, lotId);
    }

    function _requireWithinWarranty(OrderRecord storage o, uint256 claimId, uint40 filedAt) private view {
        uint40 releaseAt = o.releaseAt;
        if (releaseAt == 0 || filedAt >= releaseAt) {
            revert SupplyChainSettlementClaimOutsideWarranty(claimId, filedAt, releaseAt);
        }
    }

    function _requireParty(address party, bytes32 orderKey, Party which) private view {
        if (msg.sender != party) revert SupplyChainSettlementUnauthorized(orderKey, which, msg.sender);
    }

    function _submittedInvoice(bytes32 orderKey, uint256 shipmentId) private view returns (ShipmentRecord storage s) {
        // A shipment exists only in a created order (_shipment names an unknown order when it reverts).
        s = _shipment(orderKey, shipmentId);
        if (s.invoice != InvoiceStatus.Submitted) {
            revert SupplyChainSettlementUnexpectedInvoiceStatus(orderKey, shipmentId, s.invoice);
        }
    }

    // ---------------------------------------------------------------- internals: lookups

    /// @dev A shipment's id: its number in the order in the top 16 bits, the low 240 bits of the digest of the
    /// lots it carried below. Storing the id is storing the lots: proving them needs no slot of their own.
    function _shipmentId(uint16 sequence, bytes32[] calldata lotIds) private pure returns (uint256) {
        uint256 digest = uint256(keccak256(abi.encodePacked(lotIds)));
        return (uint256(sequence) << _SEQUENCE_SHIFT) | (digest & type(uint240).max);
    }

    /// @dev An order that can take funds: created (its token is set) and not void.
    function _funded(bytes32 orderKey) private view returns (OrderRecord storage o) {
        o = _orders[orderKey];
        if (o.token == address(0)) revert SupplyChainSettlementUnknownOrder(orderKey);
    }

    /// @dev `party` (the buyer or supplier read from the order), or UnknownOrder when the order was never
    /// created: one slot read proves both.
    function _existingParty(address party, bytes32 orderKey) private pure returns (address) {
        if (party == address(0)) revert SupplyChainSettlementUnknownOrder(orderKey);
        return party;
    }

    function _existing(bytes32 orderKey) private view returns (OrderRecord storage o) {
        o = _orders[orderKey];
        OrderStatus status = o.status;
        if (status == OrderStatus.None || status == OrderStatus.Void) revert SupplyChainSettlementUnknownOrder(orderKey);
    }

    function _shipment(bytes32 orderKey, uint256 shipmentId) private view returns (ShipmentRecord storage s) {
        s = _shipments[orderKey][shipmentId];
        if (s.status == ShipmentStatus.None) {
            _existing(orderKey);
            revert SupplyChainSettlementUnknownShipment(orderKey, shipmentId);
        }
    }

    function _requireActive(bytes32 orderKey, OrderRecord storage o) private view {
        OrderStatus status = _status(o);
        if (status != OrderStatus.Active) revert SupplyChainSettlementOrderNotActive(orderKey, status);
    }

    /// @dev The existing order `orderKey`, called by its carrier.
    function _byCarrier(bytes32 orderKey) private view returns (OrderRecord storage o) {
        o = _existing(orderKey);
        _requireParty(o.carrier, orderKey, Party.Carrier);
    }

    /// @dev The order's retention; reverts when there is none.
    function _retention(bytes32 orderKey, OrderRecord storage o) private view returns (uint256 retention) {
        retention = o.retention;
        if (retention == 0) revert SupplyChainSettlementNoRetention(orderKey);
    }

    /// @dev A shipment in status `expected`.
    function _shipmentIn(bytes32 orderKey, uint256 shipmentId, ShipmentStatus expected)
        private
        view
        returns (ShipmentRecord storage s)
    {
        s = _shipment(orderKey, shipmentId);
        ShipmentStatus status = s.status;
        if (status != expected) revert SupplyChainSettlementUnexpectedShipmentStatus(orderKey, shipmentId, status);
    }

    /// @dev A shipment that has not settled.
    function _openShipment(bytes32 orderKey, uint256 shipmentId) private view returns (ShipmentRecord storage s) {
        s = _shipment(orderKey, shipmentId);
        if (s.status == ShipmentStatus.Settled) {
            revert SupplyChainSettlementUnexpectedShipmentStatus(orderKey, shipmentId, ShipmentStatus.Settled);
        }
    }

    function _ledger() private view returns (IQualityLedger ledger) {
        ledger = LEDGER;
        if (address(ledger) == address(0)) revert SupplyChainSettlementQualityNotConfigured();
    }

    /// @dev The order's status: Completed once settled in full (slot 4), else the stored one (slot 0).
    function _status(OrderRecord storage o) private view returns (OrderStatus) {
        return o.completed ? OrderStatus.Completed : o.status;
    }

    function _ended(OrderRecord storage o) private view returns (bool) {
        return o.status == OrderStatus.Closed || block.timestamp > o.deliveryDeadline;
    }

    /// @dev What delivered, unsettled shipments may still make payable: their delivered units plus the tolerance,
    /// at most what the order has left, at the unit price.
    function _reservedValue(OrderRecord storage o) private view returns (uint256) {
        uint256 reserved = o.reserved;
        uint256 units = reserved + reserved * o.toleranceBps / _BPS;
        return Math.min(units, o.quantity - o.settled) * o.unitPrice;
    }

    /// @dev Writes the four slots an order starts with (the fifth stays zero), one store each: field by field the
    /// compiler loads and masks a slot again for every field, ~2,500 gas more. Offsets follow OrderRecord's
    /// layout, which tests/contracts/test_settlement_stateful.py checks against the compiler's. `unfunded`
    /// starts at the total (checked equal to quantity x unitPrice), `documents` at the signed order's hash.
    function _store(OrderRecord storage o, Order calldata order, bytes32 structHash) private {
        uint256 word0 = uint256(uint160(order.carrier)) | (uint256(order.deliveryDeadline) << 160)
            | (uint256(uint8(OrderStatus.Active)) << 200) | (uint256(order.toleranceBps) << 224)
            | (order.qcRequired ? 1 << 240 : 0);
        uint256 word1 = uint256(uint160(order.supplier)) | (uint256(order.unitPrice) << 160);
        uint256 word2 = uint256(uint160(order.token)) | (uint256(order.total) << 160);
        uint256 word3 = uint256(uint160(uint256(structHash))) | (uint256(order.quantity) << 160)
            | (uint256(order.warrantyPeriod) << 208) | (uint256(order.retentionBps) << 240);
        assembly ("memory-safe") {
            let slot := o.slot
            sstore(slot, word0)
            sstore(add(slot, 1), word1)
            sstore(add(slot, 2), word2)
            sstore(add(slot, 3), word3)
        }
    }

    /// @dev What the order can still pay: (quantity - settled) x unitPrice.
    function _payable(OrderRecord storage o) private view returns (uint256) {
        return uint256(o.quantity - o.settled) * o.unitPrice;
    }

    /// @dev The escrow: the order's payable value less what is not yet funded (never negative: funding is capped
    /// at `unfunded`, and a settlement lowers both terms by what it pays).
    function _escrow(OrderRecord storage o) private view returns (uint256) {
        return _payable(o) - o.unfunded;
    }

    /// @dev keccak256(abi.encode(_ORDER_TYPEHASH, order)) without the copy field by field: an Order is 14 static
    /// words, so its encoding is its calldata. A dirty word (a field out of its type's range) only makes a hash
    /// that no signature and no stored order matches; createOrder reads, and so range-checks, every field.
    function _orderStructHash(Order calldata order) private pure returns (bytes32 structHash) {
        bytes32 typehash = _ORDER_TYPEHASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typehash)
            calldatacopy(add(ptr, 0x20), order, 0x1c0)
            structHash := keccak256(ptr, 0x1e0)
        }
    }

    /// @dev The order's documents after `link`: each invoice submitted folds its header into the running hash
    /// that starts as the signed order's struct hash (see verifyDocumentField).
    function _documents(uint160 chain, InvoiceLink memory link) private pure returns (uint160) {
        return uint160(uint256(keccak256(abi.encode(chain, link))));
    }

    /// @dev The buyer's address in the top 160 bits, then the low 96 bits of keccak256(abi.encode(buyer,
    /// supplier, orderId)): an order id stays single-use per buyer-supplier pair (a second pair colliding with a
    /// given key takes 2^96 work), and the key proves the buyer without a storage read.
    function _orderKey(address buyer, address supplier, bytes32 orderId) private pure returns (bytes32) {
        uint256 digest = uint256(keccak256(abi.encode(buyer, supplier, orderId)));
        return bytes32((uint256(uint160(buyer)) << 96) | (digest & type(uint96).max));
    }

    function _buyer(bytes32 orderKey) private pure returns (address) {
        return address(uint160(uint256(orderKey) >> 96));
    }
}
