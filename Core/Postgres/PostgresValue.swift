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
        case .textArray(let values): Self.arrayLiteral(values)
        case .intArray(let values): "{" + values.map(String.init).joined(separator: ",") + "}"
        case .bytes, .null: nil
        }
    }

    /// Whether a text value holds a NUL character, which the text format cannot carry.
    var containsNUL: Bool {
        switch self {
        case .text(let value): Self.hasNUL(value)
        case .textArray(let values): values.contains(where: Self.hasNUL)
        default: false
        }
    }

    private static func hasNUL(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in bytes.baseAddress.map { memchr($0, 0, bytes.count) != nil } ?? false }
    }

    /// `{"a","b\"c"}`: every element quoted, `"` and `\` escaped, built byte by byte (this runs
    /// for every batch, and Foundation's string replacement bridges through NSString).
    private static func arrayLiteral(_ values: [String]) -> String {
        var bytes: [UInt8] = [UInt8(ascii: "{")]
        bytes.reserveCapacity(values.reduce(2) { $0 + $1.utf8.count + 3 })
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(byte)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    private static let timestampFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
}

extension PostgresValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
