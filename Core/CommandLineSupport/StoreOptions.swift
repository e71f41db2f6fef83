import ArgumentParser
import FleetOperations
import Foundation
import Mongo
import SagaAudit

/// The fleet's four stores (`--orders-database`, `--inventory-database`, `--payments-database`,
/// `--mongo-url`, `--mongo-database`), shared by `commerce-lab demo` and `commerce audit`.
public struct StoreOptions: ParsableArguments {
    /// A service's PostgreSQL database, as the options and variables name it.
    public enum Store: String, CaseIterable, Sendable {
        case orders, inventory, payments

        /// `ORDERS_DATABASE_URL` …; `<variable>_FILE` names a file holding it.
        public var variable: String { "\(rawValue.uppercased())_DATABASE_URL" }
        /// The role that owns the store (`scripts/services.sh`; docs/security.md, "Database roles").
        public var owner: String {
            switch self {
            case .orders: "order_worker"
            case .inventory: "stock_worker"
            case .payments: "payment_worker"
            }
        }
    }

    /// The operators' read-only role on the three stores.
    public static let readerRole = "commerce_reader"

    /// The local server's database of `store` as `role`.
    public static func localURL(_ store: Store, role: String = readerRole) -> String {
        "postgresql://\(role):commerce@127.0.0.1:5432/\(store.rawValue)?connect_timeout=5"
    }

    @Option(
        help: ArgumentHelp(
            "The order-worker's database (env ORDERS_DATABASE_URL; default \(Setting.shown(localURL(.orders)))).",
            valueName: "url"))
    public var ordersDatabase: String?

    @Option(
        help: ArgumentHelp(
            "The stock-worker's database (env INVENTORY_DATABASE_URL; default \(Setting.shown(localURL(.inventory)))).",
            valueName: "url"))
    public var inventoryDatabase: String?

    @Option(
        help: ArgumentHelp(
            "The payment-worker's database (env PAYMENTS_DATABASE_URL; default \(Setting.shown(localURL(.payments)))).",
            valueName: "url"))
    public var paymentsDatabase: String?

    /// The URL of `store` in effect: its option, then its variable (or `<variable>_FILE`), then the
    /// local database as `role` (the read-only role unless a command writes).
    public func url(_ store: Store, role: String = readerRole) -> String {
        let option =
            switch store {
            case .orders: ordersDatabase
            case .inventory: inventoryDatabase
            case .payments: paymentsDatabase
            }
        return Setting.resolve(option, variable: store.variable, default: Self.localURL(store, role: role))
    }

    @Option(help: ArgumentHelp("The notification-worker's MongoDB (env MONGO_URL).", valueName: "url"))
    public var mongoURL: String?

    @Option(help: ArgumentHelp("The notification-worker's MongoDB database.", valueName: "name"))
    public var mongoDatabase = "notifications"

    public init() {}

    /// The MongoDB URL in effect: option, then `MONGO_URL`, then the local default.
    public var resolvedMongoURL: String {
        Setting.resolve(mongoURL, variable: "MONGO_URL", default: MongoClient.Configuration.defaultURI)
    }

    /// The four stores in effect, each PostgreSQL database as `role` unless `owners`: then as the
    /// role that owns it (``Store/owner``), for a command that migrates them.
    public func fleet(owners: Bool = false) -> FleetStores {
        func resolved(_ store: Store) -> String { owners ? url(store, role: store.owner) : url(store) }
        return FleetStores(
            orders: resolved(.orders), inventory: resolved(.inventory), payments: resolved(.payments),
            mongoURL: resolvedMongoURL, mongoDatabase: mongoDatabase)
    }

    /// Runs the saga audit (``FleetOperations/FleetAudit``) over the four stores (read-only),
    /// invariant 6 against `processor`, the card processor's books (``ProcessorOptions/books()``).
    /// - Throws: ``CommandFailure`` naming the store that could not be reached or read (passwords redacted).
    public func audit(applicationName: String, processor: SagaAudit.ProcessorBooks) throws -> SagaAuditReport {
        try FleetAudit.run(stores: fleet(), applicationName: applicationName, processor: processor)
    }
}
