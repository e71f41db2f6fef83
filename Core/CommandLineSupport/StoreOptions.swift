import ArgumentParser
import Foundation
import Mongo
import Postgres
import SagaAudit

/// The fleet's four stores (`--orders-database`, `--inventory-database`, `--payments-database`,
/// `--mongo-url`, `--mongo-database`), shared by `commerce-lab demo` and `commerce audit`.
public struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The order-worker's database.", valueName: "url"))
    public var ordersDatabase = "postgresql://commerce_reader:commerce@127.0.0.1:5432/orders?connect_timeout=5"

    @Option(help: ArgumentHelp("The stock-worker's database.", valueName: "url"))
    public var inventoryDatabase = "postgresql://commerce_reader:commerce@127.0.0.1:5432/inventory?connect_timeout=5"

    @Option(help: ArgumentHelp("The payment-worker's database.", valueName: "url"))
    public var paymentsDatabase = "postgresql://commerce_reader:commerce@127.0.0.1:5432/payments?connect_timeout=5"

    @Option(help: ArgumentHelp("The notification-worker's MongoDB (env MONGO_URL).", valueName: "url"))
    public var mongoURL: String?

    @Option(help: ArgumentHelp("The notification-worker's MongoDB database.", valueName: "name"))
    public var mongoDatabase = "notifications"

    public init() {}

    /// The MongoDB URL in effect: option, then `MONGO_URL`, then the local default.
    public var resolvedMongoURL: String {
        Setting.resolve(mongoURL, variable: "MONGO_URL", default: MongoClient.Configuration.defaultURI)
    }

    /// Runs ``SagaAudit`` over the four stores (read-only), invariant 6 against `processor`, the
    /// card processor's books (``ProcessorOptions/books()``).
    /// - Throws: ``CommandFailure`` naming the store that could not be reached or read (passwords redacted).
    public func audit(applicationName: String, processor: SagaAudit.ProcessorBooks) throws -> SagaAuditReport {
        func connect(_ service: String, _ url: String) throws -> PostgresConnection {
            do {
                return try PostgresConnection(url: url, applicationName: applicationName)
            } catch {
                throw CommandFailure(
                    "cannot reach the \(service) database at \(Setting.redacted(url)): \(CommandFailure.describe(error))"
                )
            }
        }
        let orders = try connect("orders", ordersDatabase)
        defer { orders.close() }
        let inventory = try connect("inventory", inventoryDatabase)
        defer { inventory.close() }
        let payments = try connect("payments", paymentsDatabase)
        defer { payments.close() }
        let mongo: MongoClient
        do {
            mongo = try MongoClient(
                configuration: .init(
                    uri: resolvedMongoURL, appName: applicationName, serverSelectionTimeout: .seconds(5)))
        } catch {
            throw CommandFailure(
                "cannot reach MongoDB at \(Setting.redacted(resolvedMongoURL)): \(CommandFailure.describe(error))")
        }
        do {
            return try SagaAudit.run(
                orders: orders, inventory: inventory, payments: payments,
                notifications: mongo.collection("notifications", in: mongoDatabase), processor: processor)
        } catch {
            throw CommandFailure(
                "the audit could not read the stores (orders \(Setting.redacted(ordersDatabase)), inventory "
                    + "\(Setting.redacted(inventoryDatabase)), payments \(Setting.redacted(paymentsDatabase)), MongoDB "
                    + "\(Setting.redacted(resolvedMongoURL)) database \(mongoDatabase)): \(CommandFailure.describe(error)); "
                    + "has the fleet run `commerce setup` or started once?")
        }
    }
}
