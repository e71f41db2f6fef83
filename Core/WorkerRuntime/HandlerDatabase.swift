import Postgres

/// A handler's view of the worker's database: statements inside the batch's transaction, and
/// nothing that could end it.
///
/// The runtime owns `begin` and `commit`: the inbox rows, every handler's effects and the outbox
/// rows of a batch commit together or not at all. A handler that could commit would commit its
/// neighbours' inbox rows half-way, so transaction control is refused here (`begin`, `commit`,
/// `rollback`, `savepoint`, `release`, `prepare transaction` …, checked on the statement's first
/// keyword: libpq runs one statement per call, so there is no second statement to hide one in).
/// A handler that wants an inner unit that can fail alone uses ``savepoint(_:)``.
///
/// Writes whose results a handler does not read can be queued with ``enqueue(_:_:)``: they travel
/// with the next statement anyone sends on the connection (in the same round trip, before it),
/// or with the batch's commit, so their order relative to every other statement is kept.
///
/// Not `Sendable`: it is valid only on the consumer's thread, for the duration of one batch.
public struct HandlerDatabase {
    let connection: PostgresConnection
    let writes: QueuedWrites
    /// The position in the batch of the message being handled (who owns a queued write).
    let position: Int

    init(connection: PostgresConnection, writes: QueuedWrites, position: Int) {
        self.connection = connection
        self.writes = writes
        self.position = position
    }

    /// Runs one parameterized statement in the batch's transaction (`$1`, `$2` … in `sql`),
    /// after the writes queued before it (in the same round trip).
    /// - Throws: ``PostgresError``; ``PostgresError/Code/invalidState`` for transaction control.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) throws -> PostgresResult {
        try Self.refuseTransactionControl(sql)
        return try writes.send(PostgresStatement(sql, parameters), on: connection)
    }

    /// Queues a write whose result the handler does not need; it runs before the next statement
    /// sent on the connection, in the same round trip. Its failure fails this message (when it
    /// travels with a neighbour's statement, the neighbour is not blamed).
    /// - Throws: ``PostgresError/Code/invalidState`` for transaction control.
    public func enqueue(_ sql: String, _ parameters: [PostgresValue] = []) throws {
        try Self.refuseTransactionControl(sql)
        writes.append(PostgresStatement(sql, parameters), owner: position)
    }

    /// Runs `body` in a savepoint: released if it returns, rolled back to if it throws (then the
    /// error is rethrown and the batch's transaction carries on without `body`'s effects).
    public func savepoint<T>(_ body: (HandlerDatabase) throws -> T) throws -> T {
        let name = "handler_\(writes.nextSavepoint())"
        try writes.send(PostgresStatement("savepoint \(name)"), on: connection)
        let mark = writes.count
        do {
            let value = try body(self)
            try writes.send(PostgresStatement("release savepoint \(name)"), on: connection)
            return value
        } catch {
            writes.drop(from: mark)  // never sent: they would be rolled back anyway
            if connection.isConnected { _ = try? connection.query("rollback to savepoint \(name)") }
            throw error
        }
    }

    /// Whether the batch's transaction is open (it always is while a handler runs).
    public var inTransaction: Bool { connection.inTransaction }

    private static let refusedKeywords: Set<String> = [
        "begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare",
    ]

    private static func refuseTransactionControl(_ sql: String) throws(PostgresError) {
        if let keyword = transactionControlKeyword(sql) {
            throw PostgresError(
                code: .invalidState,
                message: "'\(keyword)' is refused in a handler: the runtime commits the batch (use savepoint(_:))",
                statement: sql)
        }
    }

    /// The statement's first keyword if it controls transactions, else `nil`. Leading white space
    /// and SQL comments are skipped. Works on the UTF-8 bytes (SQL keywords are ASCII), because it
    /// runs for every statement a handler sends.
    static func transactionControlKeyword(_ sql: String) -> String? {
        let bytes = sql.utf8
        var index = bytes.startIndex
        func at(_ offset: Int) -> UInt8? {
            guard let position = bytes.index(index, offsetBy: offset, limitedBy: bytes.endIndex),
                position < bytes.endIndex
            else { return nil }
            return bytes[position]
        }
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0C {
                index = bytes.index(after: index)
            } else if byte == UInt8(ascii: "-"), at(1) == UInt8(ascii: "-") {
                while index < bytes.endIndex && bytes[index] != 0x0A { index = bytes.index(after: index) }
            } else if byte == UInt8(ascii: "/"), at(1) == UInt8(ascii: "*") {
                guard let end = sql[index...].range(of: "*/") else { break }
                index = end.upperBound.samePosition(in: bytes) ?? bytes.endIndex
            } else {
                break
            }
        }
        var keyword: [UInt8] = []
        while index < bytes.endIndex, keyword.count <= 10 {
            let byte = bytes[index] | 0x20  // ASCII lower case
            guard byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") else { break }
            keyword.append(byte)
            index = bytes.index(after: index)
        }
        let word = String(decoding: keyword, as: UTF8.self)
        return refusedKeywords.contains(word) ? word : nil
    }
}

/// A queued write failed; `position` is the message of the batch that queued it.
struct QueuedWriteFailure: Error, CustomStringConvertible {
    var position: Int
    var error: PostgresError
    var description: String { "\(error)" }
}

/// The writes handlers queued and not yet sent, for one batch transaction.
final class QueuedWrites {
    private var pending: [(statement: PostgresStatement, owner: Int)] = []
    private var savepoints = 0

    var count: Int { pending.count }

    func append(_ statement: PostgresStatement, owner: Int) { pending.append((statement, owner)) }

    func drop(from mark: Int) { pending.removeLast(max(pending.count - mark, 0)) }

    func nextSavepoint() -> Int {
        savepoints += 1
        return savepoints
    }

    /// Sends the queued writes, then `statements`, in one round trip; returns the results of
    /// `statements`. A failed queued write is thrown as ``QueuedWriteFailure``.
    func flush(with statements: [PostgresStatement], on connection: PostgresConnection) throws -> [PostgresResult] {
        let queued = pending
        pending.removeAll()
        if queued.isEmpty {
            if statements.count == 1 { return [try connection.query(statements[0].sql, statements[0].parameters)] }
            return try connection.pipeline(statements)
        }
        let results: [PostgresResult]
        do {
            results = try connection.pipeline(queued.map(\.statement) + statements)
        } catch {
            // A queued write failed: that is its owner's failure, not the sender's.
            if let index = error.pipelineIndex, index < queued.count {
                throw QueuedWriteFailure(position: queued[index].owner, error: error)
            }
            throw error
        }
        return Array(results.dropFirst(queued.count))
    }

    /// ``flush(with:on:)`` for one statement.
    @discardableResult
    func send(_ statement: PostgresStatement, on connection: PostgresConnection) throws -> PostgresResult {
        try flush(with: [statement], on: connection)[0]
    }
}
