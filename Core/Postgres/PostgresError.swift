import CLibPQ

/// An error from PostgreSQL or libpq, carrying the SQLSTATE and the server's message.
///
/// ``description`` names the code, SQLSTATE and message; ``debugDescription`` adds the detail,
/// hint and the statement, which may hold data a log should not.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure, independent of the SQLSTATE.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// `PQconnectdb` failed: server down, wrong credentials, missing database.
        public static let connectionFailed = Code("connectionFailed")
        /// The connection broke (server restart, network); the statement's outcome is unknown
        /// unless it was inside a transaction, which then rolled back.
        public static let connectionLost = Code("connectionLost")
        /// The server did not answer within the connection's round-trip deadline
        /// (``PostgresConnection/Timeouts/roundTrip``): frozen, half-open or cut off. The
        /// connection was dropped; the statement's outcome is unknown, as for ``connectionLost``.
        public static let timedOut = Code("timedOut")
        /// The server refused the statement; ``PostgresError/sqlState`` says why.
        public static let serverError = Code("serverError")
        /// A value could not be read as the requested Swift type.
        public static let typeMismatch = Code("typeMismatch")
        /// The call does not fit the connection's state (closed, or a nested transaction).
        public static let invalidState = Code("invalidState")
        /// A parameter cannot be sent (a NUL character in text); nothing reached the server.
        public static let invalidParameter = Code("invalidParameter")
    }

    public var code: Code
    /// The five-character SQLSTATE (`23505` unique violation, `40001` serialization failure …).
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?
    /// The statement or operation, for ``debugDescription`` only.
    public var statement: String?
    /// For a failure in ``PostgresConnection/pipeline(_:)``: the index of the statement that failed.
    public var pipelineIndex: Int?

    public init(
        code: Code, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil,
        statement: String? = nil
    ) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
        self.statement = statement
    }

    /// SQLSTATE 23505.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// SQLSTATE 40001 or 40P01: the transaction can simply be run again.
    public var isRetryableConflict: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// The server or the network failed rather than the statement: no answer within the deadline,
    /// classes 08 (connection),
    /// 57P0x (admin shutdown, crash shutdown, cannot connect now) and 53 (insufficient resources).
    public var isInfrastructureFailure: Bool {
        if code == .connectionFailed || code == .connectionLost || code == .timedOut { return true }
        guard let sqlState else { return false }
        return sqlState.hasPrefix("08") || sqlState.hasPrefix("57P0") || sqlState.hasPrefix("53")
    }

    public var description: String {
        "PostgreSQL \(code)\(sqlState.map { " SQLSTATE \($0)" } ?? ""): \(message)"
    }

    public var debugDescription: String {
        var text = description
        if let detail { text += "\nDETAIL: \(detail)" }
        if let hint { text += "\nHINT: \(hint)" }
        if let statement { text += "\nSTATEMENT: \(statement)" }
        return text
    }

    /// Builds the error for a failed `PGresult`, reading its error fields (`PQresultErrorField`).
    static func wrapping(result: OpaquePointer?, connection: OpaquePointer?, statement: String) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let result, let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        let message =
            field("M") ?? connection.flatMap { PQerrorMessage($0).map { String(cString: $0) } }?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown error"
        let lost = connection.map { PQstatus($0) != CONNECTION_OK } ?? true
        return PostgresError(
            code: lost && sqlState == nil ? .connectionLost : .serverError, sqlState: sqlState, message: message,
            detail: field("D"), hint: field("H"), statement: statement)
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}

extension Set where Element == Character {
    fileprivate static let whitespacesAndNewlines: Set<Character> = [" ", "\n", "\t", "\r"]
}
