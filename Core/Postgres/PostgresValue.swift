import Foundation

/// A statement parameter. Values travel separately from the SQL text (`PQexecParams`), so no
/// value is ever spliced into a statement.
public enum PostgresValue: Sendable, Hashable {
    case text(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    /// Sent in binary format: any bytes, including NUL.
    case bytes([UInt8])
    /// Sent as an ISO-8601 timestamp with time zone.
    case timestamp(Date)
    /// Sent as a PostgreSQL array literal; use with `unnest($1::text[])` for multi-row statements.
    case textArray([String])
    case intArray([Int64])
    case null

    /// The text form libpq sends, or `nil` for binary (``bytes``) and ``null``.
    var textForm: String? {
        switch self {
        case .text(let value): value
        case .int(let value): String(value)
        case .bool(let value): value ? "t" : "f"
        case .double(let value): String(value)
        case .timestamp(let value): Self.timestampFormat.format(value)
        case .textArray(let values):
            "{"
                + values.map {
                    "\""
                        + $0.replacingOccurrences(of: "\\", with: "\\\\")
                        .replacingOccurrences(of: "\"", with: "\\\"") + "\""
                }.joined(separator: ",") + "}"
        case .intArray(let values): "{" + values.map(String.init).joined(separator: ",") + "}"
        case .bytes, .null: nil
        }
    }

    private static let timestampFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

extension PostgresValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
