import CLibPQ
import Foundation

/// One libpq connection (`PGconn`).
///
/// Every method blocks and the class is **not thread-safe** (libpq allows one thread per
/// connection at a time), so an instance is confined to one thread; it is deliberately not
/// `Sendable`. Only parameterized statements are offered, apart from ``executeScript(_:)`` for
/// migrations, whose SQL is static text of the program. Each distinct statement text is prepared
/// once per connection (`PQprepare`, named `s1`, `s2` …) and then executed by name
/// (`PQexecPrepared`), so the server parses it once; ``StatementPlanning`` says whether it is
/// also planned once or for each execution.
///
/// The handle is freed exactly once, with `PQfinish`, in ``close()`` or `deinit`.
public final class PostgresConnection {
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
    /// caller runs the same statements many times, as the workers do) and with `application_name`
    /// so that `pg_stat_activity` names the worker.
    /// - Throws: ``PostgresError/Code/connectionFailed`` with libpq's message (never the password).
    public init(
        url: String, applicationName: String = "commerce", planning: StatementPlanning = .perExecution
    ) throws(PostgresError) {
        let conn = PQconnectdb(url)
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let message = conn.flatMap { PQerrorMessage($0).map { String(cString: $0) } } ?? "out of memory"
            PQfinish(conn)
            throw PostgresError(
                code: .connectionFailed, message: message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        connection = conn
        // Server notices ("relation already exists, skipping") would go to stderr unasked.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        _ = try query(
            "select set_config('plan_cache_mode', $1, false), set_config('enable_seqscan', $2, false)",
            [.text(planning.planCacheMode), .text(planning.sequentialScans ? "on" : "off")])
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
        let result: OpaquePointer? = ParameterBuffers(parameters).withPointers { count, values, lengths, formats in
            if let name {
                PQexecPrepared(connection, name, count, values, lengths, formats, 0)
            } else {
                PQexecParams(connection, sql, count, nil, values, lengths, formats, 0)
            }
        }
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

    /// Runs static SQL that may hold several statements (`PQexec`). For migrations only: it takes
    /// no parameters.
    public func executeScript(_ sql: StaticString) throws(PostgresError) {
        guard let connection else {
            throw PostgresError(code: .invalidState, message: "the connection is closed", statement: "\(sql)")
        }
        roundTrips += 1
        let result = PQexec(connection, sql.description)
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
        let result = PQprepare(connection, name, sql, Int32(parameterCount), nil)
        defer { PQclear(result) }
        guard let result, PQresultStatus(result) == PGRES_COMMAND_OK else {
            throw PostgresError.wrapping(result: result, connection: connection, statement: sql)
        }
        prepared[sql] = name
        return name
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
