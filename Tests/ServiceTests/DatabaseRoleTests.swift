import AMQP
import CommerceTestKit
import Foundation
import Postgres
import Testing

/// A database role per service (docs/security.md, "Database roles"), against the roles and
/// databases that `scripts/services.sh up` makes: each service's role reaches its own database
/// only, the card processor's database is closed to every worker, and the operators' role reads
/// without writing.
@Suite("Database roles")
struct DatabaseRoleTests {
    static let environment = ProcessInfo.processInfo.environment
    /// Put before every role and database name (`COMMERCE_TEST_PG_NAME_PREFIX`), to try the setup
    /// on roles and databases of other names (`COMMERCE_PG_SERVICES` of scripts/services.sh).
    static let prefix = environment["COMMERCE_TEST_PG_NAME_PREFIX"] ?? ""
    static let password = environment["COMMERCE_TEST_PG_SERVICE_PASSWORD"] ?? "commerce"

    /// A connection as `role` to `database` (both without the prefix), or the error that refused it.
    private func connect(_ role: String, to database: String) -> Result<PostgresConnection, PostgresError> {
        let url =
            "postgresql://\(Self.prefix)\(role):\(Self.password)@127.0.0.1:5432/\(Self.prefix)\(database)?connect_timeout=5"
        do {
            return .success(try PostgresConnection(url: url, applicationName: "database-role-test"))
        } catch {
            return .failure(error)
        }
    }

    /// Whether `result` is the server's refusal of CONNECT (SQLSTATE 42501 at login).
    private func refusedConnect(_ result: Result<PostgresConnection, PostgresError>) -> Bool {
        guard case .failure(let error) = result else { return false }
        return "\(error)".contains("permission denied for database")
    }

    @Test("the stock-worker's role cannot connect to the orders or the card processor's database")
    func stockWorkerConfined() async throws {
        try await offThePool {
            let orders = connect("stock_worker", to: "orders")
            #expect(refusedConnect(orders), "orders: \(orders)")
            let gateway = connect("stock_worker", to: "gateway")
            #expect(refusedConnect(gateway), "gateway: \(gateway)")

            // Its own database: it owns it, so its migrations can create and change tables there.
            let inventory = try connect("stock_worker", to: "inventory").get()
            let table = "role_test_\(UUID().uuidString.prefix(8).lowercased())"
            try inventory.query("create table \(table) (id int)")
            try inventory.query("alter table \(table) add column note text")
            try inventory.query("drop table \(table)")
        }
    }

    @Test("no worker's role and not the operators' can connect to the card processor's database")
    func gatewayClosed() async throws {
        try await offThePool {
            for role in ["order_worker", "stock_worker", "payment_worker", "commerce_reader"] {
                let result = connect(role, to: "gateway")
                #expect(refusedConnect(result), "\(role): \(result)")
            }
            _ = try connect("payment_gateway", to: "gateway").get()
        }
    }

    @Test("the operators' role reads the order-worker's database and cannot write to it")
    func readerReadsOnly() async throws {
        try await offThePool {
            let orders = try connect("commerce_reader", to: "orders").get()
            // A table of the order-worker's own, made for the test.
            let owner = try connect("order_worker", to: "orders").get()
            let table = "role_test_\(UUID().uuidString.prefix(8).lowercased())"
            try owner.query("create table \(table) (id int)")
            defer { _ = try? owner.query("drop table \(table)") }
            try owner.query("insert into \(table) values (1)")
            #expect(try orders.query("select count(*) as n from \(table)").rows[0].int("n") == 1)
            let write = #expect(throws: PostgresError.self) { try orders.query("insert into \(table) values (2)") }
            #expect(write?.sqlState == "42501", "\(String(describing: write))")
        }
    }

    @Test("the stock-worker's broker user cannot take messages from the payment-worker's queue")
    func stockWorkerCannotConsumePayments() async throws {
        try await offThePool {
            let connection = try TestServers.amqp("database-role-test", user: "stock-worker")
            defer { connection.close() }
            let channel = try connection.openChannel()
            let error = #expect(throws: AMQPError.self) {
                _ = try connection.get(channel: channel, queue: "payment-worker", autoAck: false)
            }
            #expect(error?.replyCode == 403, "\(String(describing: error))")
            #expect(error?.message.contains("access to queue 'payment-worker'") == true, "\(String(describing: error))")
        }
    }
}
