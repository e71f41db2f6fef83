import CLibPQ
import Foundation
import Glibc

/// One libpq connection (`PGconn`).
///
/// Every method blocks and the class is **not thread-safe** (libpq allows one thread per
/// connection at a time), so an instance is confined to one thread; it is deliberately not
/// `Sendable`. Only parameterized statements are offered, apart from ``executeScript(_:)`` for
/// migrations, whose SQL is static text of the program. Each distinct statement text is prepared
/// once per connection (`PQsendPrepare`, named `s1`, `s2` …) and then executed by name
/// (`PQsendQueryPrepared`), so the server parses it once; ``StatementPlanning`` says whether it is
/// also planned once or for each execution.
///
/// No call waits without a deadline (``Timeouts``): statements are sent with libpq's asynchronous
/// calls on a non-blocking socket, and the reply is awaited with `poll(2)` until
/// ``Timeouts/roundTrip`` passes. A server that stops answering (frozen, half-open TCP, a
/// partition) then costs the connection, not the thread: it is dropped (`PQfinish`) and the call
/// throws ``PostgresError/Code/timedOut``, an infrastructure failure the caller reconnects from.
///
/// The handle is freed exactly once, with `PQfinish`, in ``close()`` or `deinit`.
public final class PostgresConnection {
    /// How long each stage of talking to the server may take, so that a server that goes silent
    /// cannot hold the calling thread for ever.
    ///
    /// The libpq keywords (`connect_timeout`, `keepalives*`, `tcp_user_timeout`) are defaults
    /// under the connection string: a keyword the operator's URL or string sets wins. The
    /// server-side `statement_timeout` is set for the session only when the server's own value
    /// (from the role, the database or the URL's `options`) is 0, that is unset.
    public struct Timeouts: Sendable, Equatable {
        /// Whole connection set-up, TLS and authentication included (`connect_timeout`, whole
        /// seconds, at least 2 as libpq requires).
        public var connect: Duration?
        /// Client-side deadline of each round trip (a statement, a preparation, a pipeline),
        /// measured from when it is sent. When it passes the connection is dropped. `nil` waits
        /// as long as the server takes.
        public var roundTrip: Duration?
        /// Server-side `statement_timeout`: the server cancels a statement running longer
        /// (SQLSTATE 57014), so a slow statement fails alone before ``roundTrip`` drops the
        /// connection. Keep it below ``roundTrip``. `nil` leaves the server's setting.
        public var statement: Duration?
        /// Unacknowledged sent data (or a closed receive window) longer than this makes the
        /// kernel drop the connection (`tcp_user_timeout`).
        public var tcpUser: Duration?
        /// TCP keepalive probes on an idle connection (`keepalives_idle`, `keepalives_interval`,
        /// `keepalives_count`), so a peer that vanished is noticed by an idle connection too.
        public var keepaliveIdle: Duration?
        public var keepaliveInterval: Duration
        public var keepaliveCount: Int

        public init(
            connect: Duration? = .seconds(10), roundTrip: Duration? = nil, statement: Duration? = nil,
            tcpUser: Duration? = .seconds(30), keepaliveIdle: Duration? = .seconds(30),
            keepaliveInterval: Duration = .seconds(10), keepaliveCount: Int = 3
        ) {
            self.connect = connect
            self.roundTrip = roundTrip
            self.statement = statement
            self.tcpUser = tcpUser
            self.keepaliveIdle = keepaliveIdle
            self.keepaliveInterval = keepaliveInterval
            self.keepaliveCount = keepaliveCount
        }

        /// The libpq keywords these timeouts set, in the order given to `PQconnectdbParams`.
        var keywords: [(String, String)] {
            func seconds(_ duration: Duration) -> Int { Int((duration.wholeMilliseconds + 999) / 1000) }
            var keywords: [(String, String)] = []
            if let connect { keywords.append(("connect_timeout", "\(max(2, seconds(connect)))")) }
            if let tcpUser { keywords.append(("tcp_user_timeout", "\(max(1, tcpUser.wholeMilliseconds))")) }
            if let keepaliveIdle {
                keywords += [
                    ("keepalives", "1"), ("keepalives_idle", "\(max(1, seconds(keepaliveIdle)))"),
                    ("keepalives_interval", "\(max(1, seconds(keepaliveInterval)))"),
                    ("keepalives_count", "\(max(1, keepaliveCount))"),
                ]
            }
            return keywords
        }
    }

    /// The deadlines of this connection.
    public let timeouts: Timeouts
    // Internal rather than private: `PostgresConnection+Pipeline.swift` uses them too.
    var connection: OpaquePointer?
    /// Statement text → prepared statement name, for this session.
    var prepared: [String: String] = [:]
    /// Round trips to the server so far (statements, preparations, pipelines), for benchmarks.
    public internal(set) var roundTrips = 0
    /// Statements beyond this many distinct texts run unprepared, so a program that builds SQL
    /// text dynamically cannot grow the server's memory without bound.
    static let maximumPreparedStatements = 512

    /// Connects with a libpq connection string or URL (`postgresql://user:pass@host:5432/db`).
    ///
    /// Each session is set up with `planning` (``StatementPlanning``; per execution unless the
    /// caller runs the same statements many times, as the workers do), with `application_name`
    /// so that `pg_stat_activity` names the worker, and with `timeouts` (``Timeouts``; the
    /// connection string's own keywords win over them).
    /// - Throws: ``PostgresError/Code/connectionFailed`` with libpq's message (never the password).
    public init(
        url: String, applicationName: String = "commerce", planning: StatementPlanning = .perExecution,
        timeouts: Timeouts = Timeouts()
    ) throws(PostgresError) {
        self.timeouts = timeouts
        // Later keywords override earlier ones, and `dbname` comes last and is expanded
        // (expand_dbname = 1): whatever the operator's string sets wins over these defaults.
        let keywords = timeouts.keywords + [("dbname", url)]
        let conn = Self.withCStrings(keywords.map(\.0)) { names in
            Self.withCStrings(keywords.map(\.1)) { values in PQconnectdbParams(names, values, 1) }
        }
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let message = conn.flatMap { PQerrorMessage($0).map { String(cString: $0) } } ?? "out of memory"
            PQfinish(conn)
            throw PostgresError(
                code: .connectionFailed, message: message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        connection = conn
        // Server notices ("relation already exists, skipping") would go to stderr unasked.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        // Sends never block: a full socket buffer is waited for with poll(2) and the deadline.
        guard PQsetnonblocking(conn, 1) == 0 else {
            let error = PostgresError.wrapping(result: nil, connection: conn, statement: "set non-blocking")
            close()
            throw error
        }
        let statementTimeout = timeouts.statement.map { "\(max(1, $0.wholeMilliseconds))ms" } ?? "0"
        _ = try query(
            """
            select set_config('plan_cache_mode', $1, false), set_config('enable_seqscan', $2, false),
                set_config('statement_timeout',
                    case when current_setting('statement_timeout') = '0' then $3
                         else current_setting('statement_timeout') end, false)
            """,
            [
                .text(planning.planCacheMode), .text(planning.sequentialScans ? "on" : "off"),
                .text(statementTimeout),
            ])
        _ = try query("select set_config('application_name', $1, false)", [.text(applicationName)])
    }

    deinit {
        close()
    }

    /// Closes the connection (`PQfinish`). Idempotent.
    public func close() {
        if let connection { PQfinish(connection) }
        connection = nil
    }

    /// Whether the connection is up, as far as libpq knows (`PQstatus`).
    public var isConnected: Bool {
        guard let connection else { return false }
        return PQstatus(connection) == CONNECTION_OK
    }

    /// Whether a transaction is open on this connection, as the server reported it with its last
    /// reply (`PQtransactionStatus`): true after a raw `begin` too, and while a failed
    /// transaction waits for its rollback.
    public var inTransaction: Bool {
        guard let connection else { return false }
        let status = PQtransactionStatus(connection)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// Whether the open transaction has failed and only a rollback is accepted (`PQTRANS_INERROR`).
    public var transactionFailed: Bool {
        guard let connection else { return false }
        return PQtransactionStatus(connection) == PQTRANS_INERROR
    }

    /// Runs one parameterized statement (`$1`, `$2` … in `sql`), prepared once per connection.
    /// ``PostgresValue/bytes(_:)`` parameters are sent in binary, the others as text; results
    /// come back as text.
    /// - Throws: ``PostgresError``; ``PostgresError/Code/invalidParameter`` without a round trip
    ///   when a text parameter holds a NUL character, which libpq's text format cannot carry
    ///   (it would silently cut the value short).
    @discardableResult
    public func query(_ sql: String, _ parameters: [PostgresValue] = []) throws(PostgresError) -> PostgresResult {
        guard let connection else {
            throw PostgresError(code: .invalidState, message: "the connection is closed", statement: sql)
        }
        try Self.checkParameters(parameters, statement: sql)
        let name = try preparedName(for: sql, parameterCount: parameters.count, connection: connection)
        roundTrips += 1
        let sent = ParameterBuffers(parameters).withPointers { count, values, lengths, formats in
            if let name {
                PQsendQueryPrepared(connection, name, count, values, lengths, formats, 0)
            } else {
                PQsendQueryParams(connection, sql, count, nil, values, lengths, formats, 0)
            }
        }
        guard sent == 1 else { throw PostgresError.wrapping(result: nil, connection: connection, statement: sql) }
        let result = try onlyResult(connection, statement: sql)
        defer { PQclear(result) }
        let status = result.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw PostgresError.wrapping(result: result, connection: connection, statement: sql)
        }
        return Self.copy(result!)
    }

    /// Refuses parameters libpq cannot carry, before anything is sent.
    static func checkParameters(_ parameters: [PostgresValue], statement: String) throws(PostgresError) {
        for (index, parameter) in parameters.enumerated() where parameter.containsNUL {
            throw PostgresError(
                code: .invalidParameter, message: "parameter $\(index + 1) holds a NUL character", statement: statement)
        }
    }

    /// Runs static SQL that may hold several statements (`PQsendQuery`). For migrations only: it takes
    /// no parameters.
    public func executeScript(_ sql: StaticString) throws(PostgresError) {
        guard let connection else {
            throw PostgresError(code: .invalidState, message: "the connection is closed", statement: "\(sql)")
        }
        roundTrips += 1
        guard PQsendQuery(connection, sql.description) == 1 else {
            throw PostgresError.wrapping(result: nil, connection: connection, statement: "\(sql)")
        }
        // A script holds several statements, each with its result: the first failure counts,
        // else the last result.
        let deadline = roundTripDeadline()
        var result: OpaquePointer?
        while let next = try nextResult(connection, deadline: deadline, statement: "\(sql)") {
            let failed = result.map { Self.failed($0) } ?? false
            if failed {
                PQclear(next)
            } else {
                PQclear(result)
                result = next
            }
        }
        defer { PQclear(result) }
        let status = result.map { PQresultStatus($0) } ?? PGRES_FATAL_ERROR
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw PostgresError.wrapping(result: result, connection: connection, statement: "\(sql)")
        }
    }

    /// Runs `body` in a transaction: `BEGIN`, then `COMMIT` if it returns, `ROLLBACK` if it throws.
    /// Refused when a transaction is already open, however it was opened (``inTransaction``).
    @discardableResult
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        guard !inTransaction else {
            throw PostgresError(code: .invalidState, message: "a transaction is already open")
        }
        try query("begin")
        do {
            let value = try body(self)
            try query("commit")
            return value
        } catch {
            if isConnected { _ = try? query("rollback") }
            throw error
        }
    }

    /// The prepared statement's name for `sql`, preparing it on first use; `nil` once the cache
    /// is full (the statement then runs unprepared).
    private func preparedName(for sql: String, parameterCount: Int, connection: OpaquePointer) throws(PostgresError)
        -> String?
    {
        if let name = prepared[sql] { return name }
        guard prepared.count < Self.maximumPreparedStatements else { return nil }
        let name = "s\(prepared.count + 1)"
        // Parameter types are left to the server (nil), as with PQexecParams.
        roundTrips += 1
        guard PQsendPrepare(connection, name, sql, Int32(parameterCount), nil) == 1 else {
            throw PostgresError.wrapping(result: nil, connection: connection, statement: sql)
        }
        let result = try onlyResult(connection, statement: sql)
        defer { PQclear(result) }
        guard let result, PQresultStatus(result) == PGRES_COMMAND_OK else {
            throw PostgresError.wrapping(result: result, connection: connection, statement: sql)
        }
        prepared[sql] = name
        return name
    }

    // MARK: - Waiting with a deadline

    /// When the round trip starting now must be answered by, if ever.
    func roundTripDeadline() -> ContinuousClock.Instant? {
        timeouts.roundTrip.map { ContinuousClock.now + $0 }
    }

    /// Whether `result` is a failure (anything but a command or rows).
    static func failed(_ result: OpaquePointer) -> Bool {
        let status = PQresultStatus(result)
        return status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK
    }

    /// The one result of a statement sent outside pipeline mode (the NULL that ends it read too),
    /// awaited until the round trip's deadline.
    func onlyResult(_ connection: OpaquePointer, statement: String) throws(PostgresError) -> OpaquePointer? {
        let deadline = roundTripDeadline()
        let result = try nextResult(connection, deadline: deadline, statement: statement)
        while let extra = try nextResult(connection, deadline: deadline, statement: statement) { PQclear(extra) }
        return result
    }

    /// `PQgetResult` without blocking past `deadline`: flushes what is queued to send, then reads
    /// until libpq holds a whole result. When the deadline passes the connection is dropped and
    /// ``PostgresError/Code/timedOut`` thrown. No cancel request is sent: with libpq 15,
    /// `PQcancel` itself blocks on a server that does not answer; the server's
    /// `statement_timeout` ends the statement instead, and the dropped session ends with it
    /// once the server notices.
    func nextResult(
        _ connection: OpaquePointer, deadline: ContinuousClock.Instant?, statement: String
    ) throws(PostgresError) -> OpaquePointer? {
        while true {
            let flushed = PQflush(connection)
            if flushed == 0 { break }
            if flushed < 0 { throw lost(connection, statement: statement) }
            let events = try waitForSocket(
                connection, events: POLLIN | POLLOUT, deadline: deadline, statement: statement)
            if events & Int16(POLLIN) != 0, PQconsumeInput(connection) != 1 {
                throw lost(connection, statement: statement)
            }
        }
        while PQisBusy(connection) == 1 {
            _ = try waitForSocket(connection, events: POLLIN, deadline: deadline, statement: statement)
            guard PQconsumeInput(connection) == 1 else { throw lost(connection, statement: statement) }
        }
        return PQgetResult(connection)
    }

    /// Waits in `poll(2)` until the socket is ready for `events` (or reports an error, which the
    /// libpq call after it reads) or the deadline passes.
    private func waitForSocket(
        _ connection: OpaquePointer, events: Int32, deadline: ContinuousClock.Instant?, statement: String
    ) throws(PostgresError) -> Int16 {
        let socket = PQsocket(connection)
        guard socket >= 0 else { throw lost(connection, statement: statement) }
        while true {
            var timeout: Int32 = -1
            if let deadline {
                let remaining = deadline - ContinuousClock.now
                if remaining <= .zero { throw timedOut(statement: statement) }
                timeout = Int32(clamping: max(1, remaining.wholeMilliseconds))
            }
            var descriptor = pollfd(fd: socket, events: Int16(events), revents: 0)
            let ready = poll(&descriptor, 1, timeout)
            if ready > 0 { return descriptor.revents }
            if ready < 0, errno != EINTR {
                let message = String(cString: strerror(errno))
                close()
                throw PostgresError(code: .connectionLost, message: "poll failed: \(message)", statement: statement)
            }
        }
    }

    /// The error of a failed read or write on the socket.
    private func lost(_ connection: OpaquePointer, statement: String) -> PostgresError {
        var error = PostgresError.wrapping(result: nil, connection: connection, statement: statement)
        error.code = .connectionLost
        return error
    }

    /// Drops the connection whose round trip passed its deadline, and says so.
    private func timedOut(statement: String) -> PostgresError {
        close()
        let limit = timeouts.roundTrip.map { "\($0.wholeMilliseconds) ms" } ?? "its deadline"
        return PostgresError(
            code: .timedOut,
            message: "no reply from the server within \(limit); the connection was dropped", statement: statement)
    }

    /// Calls `body` with a C array of C strings for `strings`, NULL-terminated, as libpq's
    /// keyword and value arrays are.
    private static func withCStrings<R>(
        _ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R
    ) -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafePointer($0) } + [nil]
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    static func copy(_ result: OpaquePointer) -> PostgresResult {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            let values = (0..<columnCount).map { column -> String? in
                if PQgetisnull(result, Int32(row), Int32(column)) != 0 { return nil }
                return String(cString: PQgetvalue(result, Int32(row), Int32(column)))
            }
            rows.append(PostgresRow(columns: columns, values: values))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresResult(rows: rows, affectedRows: affected)
    }
}

/// The C arrays libpq takes for a statement's parameters: values (NUL-terminated text, or binary
/// for ``PostgresValue/bytes(_:)``), lengths and formats, alive for the duration of one call.
/// Each value is copied once, straight into the buffer libpq reads (this runs for every statement).
struct ParameterBuffers {
    private let parameters: [PostgresValue]

    init(_ parameters: [PostgresValue]) {
        self.parameters = parameters
    }

    /// Calls `body` with the parameter count and the three arrays.
    func withPointers<R>(
        _ body: (
            Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?
        ) -> R
    ) -> R {
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        var buffers: [UnsafeMutableRawPointer] = []
        pointers.reserveCapacity(parameters.count)
        lengths.reserveCapacity(parameters.count)
        formats.reserveCapacity(parameters.count)
        defer { buffers.forEach { $0.deallocate() } }
        func copy(_ bytes: UnsafeBufferPointer<UInt8>, terminated: Bool) {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes.count + 1, alignment: 1)
            if let base = bytes.baseAddress { buffer.copyMemory(from: base, byteCount: bytes.count) }
            buffer.storeBytes(of: 0, toByteOffset: bytes.count, as: UInt8.self)
            buffers.append(buffer)
            pointers.append(UnsafePointer(buffer.assumingMemoryBound(to: CChar.self)))
            lengths.append(Int32(terminated ? bytes.count + 1 : bytes.count))
        }
        for parameter in parameters {
            switch parameter {
            case .null:
                pointers.append(nil)
                lengths.append(0)
                formats.append(0)
            case .bytes(let bytes):
                bytes.withUnsafeBufferPointer { copy($0, terminated: false) }
                formats.append(1)
            default:
                var text = parameter.textForm!
                text.withUTF8 { copy($0, terminated: true) }
                formats.append(0)
            }
        }
        let count = Int32(parameters.count)
        return pointers.withUnsafeBufferPointer { values in
            lengths.withUnsafeBufferPointer { lengths in
                formats.withUnsafeBufferPointer { formats in
                    body(count, values.baseAddress, lengths.baseAddress, formats.baseAddress)
                }
            }
        }
    }
}

extension Duration {
    /// Whole milliseconds, rounded down (the module has no dependency to take this from).
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
