import Foundation
import Postgres
import WorkerRuntime

/// The parked rows of one worker database's outbox (`commerce outbox`): rows the relay gave up on
/// after `outbox.parkAfterAttempts` failed publishes, listed, and handed back to the relay with a
/// fresh attempt budget. Every failure is a ``ParkedOutboxError`` naming the database (given with
/// its password redacted) and what to try next.
public struct ParkedOutbox {
    /// The database the rows are read from (one thread at a time, like every `PostgresConnection`).
    public let connection: PostgresConnection
    /// The database's address as errors name it.
    public let address: String

    public init(connection: PostgresConnection, address: String) {
        self.connection = connection
        self.address = address
    }

    /// What ``list(limit:)`` found.
    public struct Listing: Sendable, Codable, Equatable {
        public var database: String
        /// Parked rows in the database, all of them (``rows`` holds at most the limit).
        public var total: Int
        public var rows: [ParkedOutboxRow]
    }

    /// The parked rows, oldest first, at most `limit` (positive).
    public func list(limit: Int) throws(ParkedOutboxError) -> Listing {
        guard limit > 0 else { throw ParkedOutboxError("the limit must be positive, not \(limit)") }
        do {
            let parked = try OutboxAdministration.parked(limit: limit, on: connection)
            return Listing(database: address, total: parked.total, rows: parked.rows)
        } catch {
            throw failure("read the parked outbox rows of", error)
        }
    }

    /// What ``retry(ids:)`` did.
    public struct Retry: Sendable, Codable, Equatable {
        public var database: String
        /// The rows handed back to the relay.
        public var retried: [Int64]
        /// Requested ids that are no parked row of this database (published since, never parked,
        /// or of another database).
        public var notParked: [Int64]
    }

    /// Hands `ids` (or every parked row, when nil) back to the relay, with no backoff and a fresh
    /// attempt budget; a row that fails again is parked again after the same number of attempts.
    public func retry(ids: [Int64]?) throws(ParkedOutboxError) -> Retry {
        if let ids, ids.isEmpty { throw ParkedOutboxError("name one or more outbox ids, or retry every parked row") }
        do {
            let retried = try OutboxAdministration.retry(ids: ids, on: connection)
            let missing = Set(ids ?? []).subtracting(retried).sorted()
            return Retry(database: address, retried: retried, notParked: missing)
        } catch {
            throw failure("retry the parked outbox rows of", error)
        }
    }

    private func failure(_ action: String, _ error: any Error) -> ParkedOutboxError {
        if let postgres = error as? PostgresError, postgres.sqlState == "42P01" {
            return ParkedOutboxError(
                "\(address) has no runtime outbox (runtime_outbox): is it a worker's database, and has that worker "
                    + "started once?")
        }
        if let postgres = error as? PostgresError, postgres.sqlState == "42703" {
            return ParkedOutboxError(
                "the runtime outbox of \(address) has no parked_at column: start its worker once (its migration "
                    + "adds the column), or run `commerce setup`")
        }
        if let postgres = error as? PostgresError, postgres.sqlState == "42501" {
            return ParkedOutboxError(
                "could not \(action) \(address): permission denied (\(postgres.message)); retrying writes the "
                    + "outbox: use the worker's own role (docs/security.md, \"Database roles\")")
        }
        return ParkedOutboxError("could not \(action) \(address): \(error)")
    }
}

/// What ``ParkedOutbox`` could not do, and on which database: one message for a person.
public struct ParkedOutboxError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
