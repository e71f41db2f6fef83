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
/// Not `Sendable`: it is valid only on the consumer's thread, for the duration of one handler call.
public struct HandlerDatabase {
    let connection: PostgresConnection
    private let savepoints: SavepointCounter

    init(connection: PostgresConnection) {
        self.connection = connection
        savepoints = SavepointCounter()
    }

    /// Runs one parameterized statement in the batch's transaction (`$1`, `$2` … in `sql`).
    /// - Throws: ``PostgresError``; ``PostgresError/Code/invalidState`` for transaction control.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) throws(PostgresError) -> PostgresResult {
        if let keyword = Self.transactionControlKeyword(sql) {
            throw PostgresError(
                code: .invalidState,
                message: "'\(keyword)' is refused in a handler: the runtime commits the batch (use savepoint(_:))",
                statement: sql)
        }
        return try connection.query(sql, parameters)
    }

    /// Runs `body` in a savepoint: released if it returns, rolled back to if it throws (then the
    /// error is rethrown and the batch's transaction carries on without `body`'s effects).
    public func savepoint<T>(_ body: (HandlerDatabase) throws -> T) throws -> T {
        let name = savepoints.next()
        try connection.query("savepoint \(name)")
        do {
            let value = try body(self)
            try connection.query("release savepoint \(name)")
            return value
        } catch {
            if connection.isConnected { _ = try? connection.query("rollback to savepoint \(name)") }
            throw error
        }
    }

    /// Whether the batch's transaction is open (it always is while a handler runs).
    public var inTransaction: Bool { connection.inTransaction }

    private static let refusedKeywords: Set<String> = [
        "begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare",
    ]

    /// The statement's first keyword if it controls transactions, else `nil`. Leading white space
    /// and SQL comments are skipped.
    static func transactionControlKeyword(_ sql: String) -> String? {
        var text = Substring(sql)
        while true {
            text = text.drop { $0.isWhitespace }
            if text.hasPrefix("--") {
                text = text.drop { $0 != "\n" }
            } else if text.hasPrefix("/*"), let end = text.range(of: "*/") {
                text = text[end.upperBound...]
            } else {
                break
            }
        }
        let keyword = text.prefix { $0.isLetter }.lowercased()
        return refusedKeywords.contains(keyword) ? keyword : nil
    }
}

/// Names savepoints `handler_1`, `handler_2` … within one handler call.
private final class SavepointCounter {
    private var count = 0
    func next() -> String {
        count += 1
        return "handler_\(count)"
    }
}
