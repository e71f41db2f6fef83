import CommerceSupport
import Foundation
import Logging
import Mongo
import Payments
import PaymentsHTTP
import Postgres
import SagaAudit

/// The saga audit (docs/saga.md, "Invariants") across the fleet's four stores and the card
/// processor's books: running ``SagaAudit/SagaAudit`` read-only, and its result as a report with
/// every invariant. What `commerce audit` prints and `commerce-lab` checks after a run.
public enum FleetAudit {
    /// The invariants of docs/saga.md, by number.
    public static let invariants = [
        1: "every placed order reaches exactly one terminal state (CONFIRMED, CANCELLED or REJECTED)",
        2: "CONFIRMED ⇔ one net captured payment of the order's total, and its stock sold",
        3: "CANCELLED or REJECTED ⇔ no net charge and no stock held",
        4: "stock is conserved (initial = available + reserved + sold) and never negative",
        5: "exactly one stored notification per terminal order event, none duplicated",
        6: "the card processor kept, per order, what its outcome says (captures − refunds: the total if CONFIRMED, "
            + "0 if CANCELLED or REJECTED), and holds no charge for an order the fleet does not know",
    ]

    /// The audit as a report: every invariant, whether it holds, and the orders concerned.
    public struct Report: Encodable, Sendable {
        public var clean: Bool
        public var violations: Int
        public var counts: Counts
        public var invariants: [Invariant]
        /// How invariant 6 was checked: `checked`, `not_checked` (the sandbox) or `failed`.
        public var reconciliation: Reconciliation
    }

    public struct Reconciliation: Encodable, Sendable {
        public var status: String
        /// The processor's charges read (`checked` only).
        public var charges: Int?
        /// What the processor keeps in all, in minor units (`checked` only).
        public var kept: Int?
        /// Why it was not checked or failed.
        public var reason: String?
    }

    public struct Counts: Encodable, Sendable {
        public var orders: Int
        public var ordersByStatus: [String: Int]
        public var reservationsByStatus: [String: Int]
        public var notifications: Int
        public var notificationsByEventType: [String: Int]
        public var ordersWithLedger: Int
        public var skus: Int
    }

    public struct Invariant: Encodable, Sendable {
        public var number: Int
        public var title: String
        public var holds: Bool
        /// Whether the invariant was checked at all (invariant 6 is not with the sandbox processor).
        public var checked: Bool
        /// The orders concerned, sorted.
        public var orderIDs: [String]
        public var violations: [Violation]

        enum CodingKeys: String, CodingKey {
            case number, title, holds, checked, violations
            // Spelled out: the snake_case strategy would make `orderIDs` "order_i_ds".
            case orderIDs = "order_ids"
        }
    }

    public struct Violation: Encodable, Sendable {
        public var subject: String
        public var orderID: String?
        public var sku: String?
        public var notificationID: String?
        public var message: String
    }

    /// The report of `audit`.
    public static func report(_ audit: SagaAuditReport) -> Report {
        let counts = audit.counts
        var notChecked = false
        if case .notChecked = audit.reconciliation { notChecked = true }
        let invariants = (1...6).map { number in
            let violations = audit.violations(of: number)
            return Invariant(
                number: number, title: Self.invariants[number] ?? "", holds: violations.isEmpty,
                checked: !(number == SagaAudit.reconciliationInvariant && notChecked),
                orderIDs: Array(Set(violations.compactMap(\.orderID))).sorted(),
                violations: violations.map { violation in
                    var entry = Violation(subject: "\(violation.subject)", message: violation.message)
                    switch violation.subject {
                    case .order(let id): entry.orderID = id
                    case .sku(let sku): entry.sku = sku
                    case .notification(let id): entry.notificationID = id
                    case .processor: break
                    }
                    return entry
                })
        }
        return Report(
            clean: audit.isClean, violations: audit.violations.count,
            counts: Counts(
                orders: counts.orders, ordersByStatus: counts.ordersByStatus,
                reservationsByStatus: counts.reservationsByStatus, notifications: counts.notifications,
                notificationsByEventType: counts.notificationsByEventType, ordersWithLedger: counts.ordersWithLedger,
                skus: counts.skus),
            invariants: invariants, reconciliation: reconciliation(audit.reconciliation))
    }

    private static func reconciliation(_ value: SagaAuditReport.Reconciliation) -> Reconciliation {
        switch value {
        case .checked(let charges, let kept): Reconciliation(status: "checked", charges: charges, kept: kept)
        case .notChecked(let reason): Reconciliation(status: "not_checked", reason: reason)
        case .failed(let reason): Reconciliation(status: "failed", reason: reason)
        }
    }

    /// Runs ``SagaAudit/SagaAudit`` over `stores` (read-only, connected as `applicationName`),
    /// invariant 6 against `processor`, the card processor's books.
    /// - Throws: ``OperationFailure`` naming the store that could not be reached or read
    ///   (passwords redacted).
    public static func run(stores: FleetStores, applicationName: String, processor: SagaAudit.ProcessorBooks)
        throws -> SagaAuditReport
    {
        func connect(_ service: String, _ url: String) throws -> PostgresConnection {
            do {
                return try PostgresConnection(url: url, applicationName: applicationName)
            } catch {
                throw OperationFailure(
                    "cannot reach the \(service) database at \(OperationFailure.redacted(url)): "
                        + OperationFailure.describe(error))
            }
        }
        let orders = try connect("orders", stores.orders)
        defer { orders.close() }
        let inventory = try connect("inventory", stores.inventory)
        defer { inventory.close() }
        let payments = try connect("payments", stores.payments)
        defer { payments.close() }
        let mongo: MongoClient
        do {
            mongo = try MongoClient(
                configuration: .init(
                    uri: stores.mongoURL, appName: applicationName, serverSelectionTimeout: .seconds(5)))
        } catch {
            throw OperationFailure(
                "cannot reach MongoDB at \(OperationFailure.redacted(stores.mongoURL)): "
                    + OperationFailure.describe(error))
        }
        do {
            return try SagaAudit.run(
                orders: orders, inventory: inventory, payments: payments,
                notifications: mongo.collection("notifications", in: stores.mongoDatabase), processor: processor)
        } catch {
            throw OperationFailure(
                "the audit could not read the stores (orders \(OperationFailure.redacted(stores.orders)), inventory "
                    + "\(OperationFailure.redacted(stores.inventory)), payments "
                    + "\(OperationFailure.redacted(stores.payments)), MongoDB "
                    + "\(OperationFailure.redacted(stores.mongoURL)) database \(stores.mongoDatabase)): "
                    + "\(OperationFailure.describe(error)); has the fleet run `commerce setup` or started once?")
        }
    }

    /// The card processor's books: every charge with its refunds, read now through its charge
    /// listing (`GET /v1/charges`, every page) at `url` with `apiKey`, as a payments team reads a
    /// real processor's, never from its database; or why they were not read. With the `sandbox`
    /// processor (`gateway`), whose books are the payment-worker's memory, nothing is read.
    /// Never throws: a processor that cannot be read is ``SagaAudit/ProcessorBooks/unreadable(_:)``,
    /// which the audit reports as a violation of invariant 6.
    public static func processorBooks(gateway: PaymentGatewayKind, url: String, apiKey: String)
        -> SagaAudit.ProcessorBooks
    {
        guard gateway == .http else {
            return .notConsulted(
                "the fleet uses the sandbox card processor (payment.gateway = sandbox), whose books are the "
                    + "payment-worker's memory: no other process can read them")
        }
        var logger = Logger(label: "commerce.reconciliation")
        logger.logLevel = .critical
        let client = HTTPPaymentGateway(
            configuration: HTTPPaymentGateway.Configuration(baseURL: url, apiKey: apiKey, timeout: .seconds(10)),
            logger: logger)
        let books: SagaAudit.ProcessorBooks
        do {
            books = .charges(try runBlocking { try await client.listCharges(createdFrom: nil, createdBefore: nil) })
        } catch {
            books = .unreadable("\(OperationFailure.redacted(url)): \(error)")
        }
        // AsyncHTTPClient requires a shutdown before release; a failure here changes nothing read.
        try? runBlocking { try await client.shutdown() }
        return books
    }
}
