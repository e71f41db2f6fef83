import Foundation

/// One row of a result, copied out of libpq (text format), with typed accessors by column name.
public struct PostgresRow: Sendable {
    /// Column names, in order.
    public let columns: [String]
    /// Values in text format; `nil` is SQL NULL.
    public let values: [String?]

    /// The raw text value of `column`, or `nil` for NULL.
    /// - Throws: ``PostgresError/Code/typeMismatch`` if the result has no such column.
    public func text(_ column: String) throws(PostgresError) -> String? {
        guard let index = columns.firstIndex(of: column) else {
            throw PostgresError(
                code: .typeMismatch, message: "no column '\(column)' in result (\(columns.joined(separator: ", ")))")
        }
        return values[index]
    }

    /// A non-NULL text column.
    public func string(_ column: String) throws(PostgresError) -> String {
        guard let value = try text(column) else { throw nullError(column) }
        return value
    }

    /// A non-NULL integer column (`int2`, `int4`, `int8`, `numeric` without fraction).
    public func int(_ column: String) throws(PostgresError) -> Int64 {
        let value = try string(column)
        guard let int = Int64(value) else {
            throw PostgresError(code: .typeMismatch, message: "column '\(column)' is not an integer: \(value)")
        }
        return int
    }

    /// A nullable integer column.
    public func optionalInt(_ column: String) throws(PostgresError) -> Int64? {
        guard try text(column) != nil else { return nil }
        return try int(column)
    }

    /// A non-NULL boolean column.
    public func bool(_ column: String) throws(PostgresError) -> Bool {
        try string(column) == "t"
    }

    /// A non-NULL `bytea` column (hex output format, PostgreSQL's default).
    public func bytes(_ column: String) throws(PostgresError) -> [UInt8] {
        let value = try string(column)
        guard value.hasPrefix("\\x"), value.count % 2 == 0 else {
            throw PostgresError(code: .typeMismatch, message: "column '\(column)' is not bytea in hex format")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((value.utf8.count - 2) / 2)
        var iterator = value.utf8.dropFirst(2).makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = Self.hexValue(high), let l = Self.hexValue(low) else {
                throw PostgresError(code: .typeMismatch, message: "column '\(column)' has a bad hex digit")
            }
            bytes.append(h << 4 | l)
        }
        return bytes
    }

    private static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private func nullError(_ column: String) -> PostgresError {
        PostgresError(code: .typeMismatch, message: "column '\(column)' is NULL")
    }
}

/// The outcome of a statement: its rows and the number of rows it affected.
public struct PostgresResult: Sendable {
    public var rows: [PostgresRow]
    /// `PQcmdTuples`: rows inserted, updated or deleted (0 for other statements).
    public var affectedRows: Int
}
