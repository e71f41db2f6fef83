import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation
import Postgres
import WorkerRuntime

/// `commerce outbox`: the outbox rows a service's relay parked (they failed
/// `outbox.parkAfterAttempts` publishes: unroutable, refused), listed and handed back to the relay
/// through ``FleetOperations/ParkedOutbox`` (docs/operations.md, "Parked outbox rows").
struct OutboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "List or retry the outbox rows a service's relay parked.",
        discussion: """
            A worker's relay parks an outbox row that failed outbox.parkAfterAttempts publishes \
            (default 10): the broker returned it as unroutable or refused it. A parked row is never \
            published again until it is retried; fix the cause first (a missing binding, a queue \
            over its length limit), then retry. SERVICE is orders, inventory or payments; its \
            database is taken from --orders-database, --inventory-database or --payments-database, \
            then ORDERS_DATABASE_URL and the like. `list` reads as the operators' read-only role, \
            `retry` writes as the service's own role.
            """,
        subcommands: [OutboxListCommand.self, OutboxRetryCommand.self])
}

extension StoreOptions.Store: ExpressibleByArgument {}

/// The service and its database, shared by the `outbox` subcommands.
struct OutboxTarget: ParsableArguments {
    @Argument(help: ArgumentHelp("The service: orders, inventory or payments.", valueName: "service"))
    var service: StoreOptions.Store

    @OptionGroup var stores: StoreOptions

    /// Connects as `role` (the reader unless a command writes).
    func connect(role: String, output: OutputOptions) throws -> ParkedOutbox {
        let url = stores.url(service, role: role)
        do {
            return ParkedOutbox(
                connection: try PostgresConnection(url: url, applicationName: "commerce-outbox"),
                address: Setting.redacted(url))
        } catch {
            throw outboxFailure(
                "cannot reach the \(service.rawValue) database at \(Setting.redacted(url)): "
                    + CommandFailure.describe(error), output)
        }
    }
}

/// Reports `message` (also as JSON with `--json`), then exits with status 1.
func outboxFailure(_ message: String, _ output: OutputOptions) -> CommandFailure {
    if output.json {
        struct Failure: Encodable { var error: String }
        output.printJSON(Failure(error: message))
    }
    return CommandFailure(message)
}

struct OutboxListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List a service's parked outbox rows, oldest first.")

    @OptionGroup var target: OutboxTarget

    @Option(help: ArgumentHelp("Show at most this many rows.", valueName: "n"))
    var limit = 100

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive, not \(limit)") }
    }

    func run() throws {
        let outbox = try target.connect(role: StoreOptions.readerRole, output: output)
        defer { outbox.connection.close() }
        let listing: ParkedOutbox.Listing
        do {
            listing = try outbox.list(limit: limit)
        } catch {
            throw outboxFailure(error.description, output)
        }
        if output.json {
            output.printJSON(listing)
            return
        }
        print("PostgreSQL \(listing.database): \(listing.total) parked outbox row(s)")
        guard !listing.rows.isEmpty else { return }
        var table = TextTable(
            ["id", "type", "routing key", "attempts", "parked", "last error"], rightAligned: ["id", "attempts"])
        for row in listing.rows {
            table.append([
                "\(row.id)", row.messageType, "\(row.exchange) \(row.routingKey)", "\(row.attempts)",
                Timestamp.iso8601(row.parkedAt), row.lastError ?? "-",
            ])
        }
        table.print(indent: "  ")
        if listing.total > listing.rows.count {
            print("  … and \(listing.total - listing.rows.count) more (--limit)")
        }
        print("Fix the cause, then: commerce outbox retry \(target.service.rawValue) ID… (or --all)")
    }
}

struct OutboxRetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Hand parked outbox rows back to the relay, with a fresh attempt budget.",
        discussion: """
            The relay of the worker copy that wrote a row publishes it at its next run (another \
            copy's relay once that copy is gone). Exits 1 if an ID is not a parked row of the \
            database (the others are still retried).
            """)

    @OptionGroup var target: OutboxTarget

    @Argument(help: ArgumentHelp("Outbox ids, as `commerce outbox list` shows them.", valueName: "id"))
    var ids: [Int64] = []

    @Flag(help: "Retry every parked row of the database.")
    var all = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if all && !ids.isEmpty { throw ValidationError("give outbox ids or --all, not both") }
        if !all && ids.isEmpty { throw ValidationError("name one or more outbox ids, or give --all") }
    }

    func run() throws {
        let outbox = try target.connect(role: target.service.owner, output: output)
        defer { outbox.connection.close() }
        let retry: ParkedOutbox.Retry
        do {
            retry = try outbox.retry(ids: all ? nil : ids)
        } catch {
            throw outboxFailure(error.description, output)
        }
        if output.json {
            output.printJSON(retry)
        } else {
            print("PostgreSQL \(retry.database): \(retry.retried.count) row(s) handed back to the relay")
            if !retry.retried.isEmpty { print("  retried: \(retry.retried.map(String.init).joined(separator: ", "))") }
        }
        if !retry.notParked.isEmpty {
            let message =
                "not a parked outbox row of \(retry.database): \(retry.notParked.map(String.init).joined(separator: ", "))"
            if !output.json { FileHandle.standardError.write(Data("error: \(message)\n".utf8)) }
            throw ExitCode.failure
        }
    }
}
