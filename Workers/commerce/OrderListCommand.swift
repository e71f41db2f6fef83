import ArgumentParser
import CommandLineSupport
import CommerceDomain
import FleetOperations
import Foundation
import Ordering
import Postgres

/// `commerce order list`: the orders of the orders database, newest first, with filters.
struct OrderListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List orders, newest first.",
        discussion: "Read-only; reads the orders table of the order-worker's database.")

    struct Row: Encodable {
        var orderId: String
        var status: String
        var reason: String?
        var customerId: String?
        var currency: String?
        var total: Int?
        var lines: Int
        var createdAt: String
        var updatedAt: String
    }

    struct Report: Encodable {
        var database: String
        var count: Int
        /// Whether `--limit` cut the list short (more orders match).
        var truncated: Bool
        var orders: [Row]
    }

    @Option(
        help: ArgumentHelp(
            "The order-worker's database (env ORDERS_DATABASE_URL; default "
                + "\(Setting.shown(StoreOptions.localURL(.orders)))).", valueName: "url"))
    var ordersDatabase: String?

    private var ordersURL: String {
        Setting.resolve(
            ordersDatabase, variable: StoreOptions.Store.orders.variable, default: StoreOptions.localURL(.orders))
    }

    @Option(
        name: .customLong("state"),
        help: ArgumentHelp(
            "Only orders in this state: "
                + OrderStatus.allCases.map(\.rawValue).joined(separator: ", ") + " (any case).",
            valueName: "state"))
    var state: String?

    @Option(
        name: .customLong("since"),
        help: ArgumentHelp(
            "Only orders placed since an ISO-8601 time or a duration ago (90s, 15m, 1h, 2d).", valueName: "when"))
    var since: String?

    @Option(name: .customLong("limit"), help: ArgumentHelp("At most this many orders.", valueName: "n"))
    var limit = 50

    @OptionGroup var output: OutputOptions

    private var status: OrderStatus? { state.flatMap { OrderStatus(rawValue: $0.uppercased()) } }

    func validate() throws {
        if let state, status == nil {
            throw ValidationError(
                "--state: '\(state)' is not one of " + OrderStatus.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if let since, DeadLetterFilter.parseSince(since) == nil {
            throw ValidationError(
                "--since: '\(since)' is neither an ISO-8601 time (2026-11-30T10:00:00Z) nor a duration (90s, 15m, 1h, 2d)"
            )
        }
        guard limit > 0 else { throw ValidationError("--limit must be positive, not \(limit)") }
    }

    func run() throws {
        try DLQReporting.run(output) {
            let now = Date()
            let address = Setting.redacted(ordersURL)
            let connection: PostgresConnection
            do {
                connection = try PostgresConnection(url: ordersURL, applicationName: "commerce-order-list")
            } catch {
                throw CommandFailure(
                    "cannot reach the orders database at \(address): \(CommandFailure.describe(error))")
            }
            defer { connection.close() }
            let sinceDate = since.flatMap { DeadLetterFilter.parseSince($0, now: now) }
            var rows: [Row] = []
            var dates: [Date] = []
            do {
                guard try OrderView.tableExists(in: connection) else {
                    throw CommandFailure(
                        "the database at \(address) has no orders table: is it the order-worker's? "
                            + "(`commerce setup` creates it)")
                }
                // One more than the limit, to say whether the list was cut short.
                let orders = try OrderView.list(
                    status: status?.rawValue, since: sinceDate, limit: limit + 1, from: connection)
                for order in orders {
                    dates.append(order.createdAt)
                    rows.append(
                        Row(
                            orderId: order.orderID, status: order.status, reason: order.reason,
                            customerId: order.customer?.id, currency: order.currency, total: order.amounts?.total,
                            lines: order.lines.count, createdAt: Timestamp.iso8601(order.createdAt),
                            updatedAt: Timestamp.iso8601(order.updatedAt)))
                }
            } catch {
                if let failure = error as? CommandFailure { throw failure }
                throw CommandFailure("cannot read the orders at \(address): \(CommandFailure.describe(error))")
            }
            let truncated = rows.count > limit
            if truncated { rows.removeLast() }
            if output.json {
                output.printJSON(Report(database: address, count: rows.count, truncated: truncated, orders: rows))
                return
            }
            print(
                "PostgreSQL \(address): \(rows.count) order(s), newest first"
                    + (truncated ? " (--limit \(limit) reached; more match)" : ""))
            guard !rows.isEmpty else { return }
            var table = TextTable(
                ["ORDER", "STATUS", "REASON", "CUSTOMER", "LINES", "TOTAL", "PLACED"], rightAligned: ["LINES", "TOTAL"])
            for (row, created) in zip(rows, dates) {
                table.append([
                    row.orderId, row.status, row.reason ?? "-", row.customerId ?? "-", "\(row.lines)",
                    row.total.map { OrderDetails.amount($0, currency: row.currency) + " " + (row.currency ?? "") }
                        ?? "-",
                    RelativeTime.describe(created, now: now),
                ])
            }
            table.print(indent: "  ")
        }
    }
}
