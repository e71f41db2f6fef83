import Foundation

/// One value inside a ``Document``: the BSON types this project stores.
///
/// Integer literals become ``int64(_:)`` (Swift's `Int` is 64 bits); write ``int32(_:)`` when a
/// server expects a 32-bit number. Dates are stored by BSON as whole milliseconds since 1970, so
/// a ``date(_:)`` read back has lost anything finer than a millisecond.
///
/// Reading a document that holds another BSON type (decimal128, regex, JavaScript, min/max key…)
/// fails with ``MongoError/Code-swift.struct/invalidDocument`` rather than silently dropping it.
public enum BSONValue: Sendable, Hashable {
    /// A UTF-8 string (BSON type 0x02).
    case string(String)
    /// A 32-bit integer (BSON type 0x10).
    case int32(Int32)
    /// A 64-bit integer (BSON type 0x12).
    case int64(Int64)
    /// A 64-bit IEEE 754 floating-point number (BSON type 0x01).
    case double(Double)
    /// A boolean (BSON type 0x08).
    case bool(Bool)
    /// Null (BSON type 0x0A).
    case null
    /// A UTC date-time with millisecond precision (BSON type 0x09).
    case date(Date)
    /// An embedded document (BSON type 0x03).
    case document(Document)
    /// An array (BSON type 0x04).
    case array([BSONValue])
    /// A 12-byte ObjectId (BSON type 0x07).
    case objectID(ObjectID)
    /// Binary data with its BSON subtype, 0 for generic bytes (BSON type 0x05).
    case binary(subtype: UInt8, bytes: [UInt8])
    /// MongoDB's internal timestamp: seconds since 1970 and an ordinal within the second (BSON
    /// type 0x11). Server replies carry it in `$clusterTime`; applications use ``date(_:)``.
    case timestamp(seconds: UInt32, increment: UInt32)

    /// The string, if this is a ``string(_:)``.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The number as an `Int`, if this is an ``int32(_:)`` or ``int64(_:)``.
    ///
    /// Servers answer counts as either width, so callers should read integers through this.
    public var intValue: Int? {
        switch self {
        case .int32(let value): return Int(value)
        case .int64(let value): return Int(value)
        default: return nil
        }
    }

    /// The number, if this is a ``double(_:)``, ``int32(_:)`` or ``int64(_:)``.
    public var doubleValue: Double? {
        switch self {
        case .double(let value): return value
        case .int32(let value): return Double(value)
        case .int64(let value): return Double(value)
        default: return nil
        }
    }

    /// The boolean, if this is a ``bool(_:)``.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The date, if this is a ``date(_:)``.
    public var dateValue: Date? {
        if case .date(let value) = self { return value }
        return nil
    }

    /// The embedded document, if this is a ``document(_:)``.
    public var documentValue: Document? {
        if case .document(let value) = self { return value }
        return nil
    }

    /// The elements, if this is an ``array(_:)``.
    public var arrayValue: [BSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The ObjectId, if this is an ``objectID(_:)``.
    public var objectIDValue: ObjectID? {
        if case .objectID(let value) = self { return value }
        return nil
    }

    /// Whether this is ``null``.
    public var isNull: Bool { self == .null }
}

extension BSONValue: ExpressibleByStringLiteral {
    /// A ``string(_:)``.
    public init(stringLiteral value: String) { self = .string(value) }
}

extension BSONValue: ExpressibleByIntegerLiteral {
    /// An ``int64(_:)``.
    public init(integerLiteral value: Int64) { self = .int64(value) }
}

extension BSONValue: ExpressibleByFloatLiteral {
    /// A ``double(_:)``.
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension BSONValue: ExpressibleByBooleanLiteral {
    /// A ``bool(_:)``.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension BSONValue: ExpressibleByNilLiteral {
    /// ``null``.
    public init(nilLiteral: ()) { self = .null }
}

extension BSONValue: ExpressibleByArrayLiteral {
    /// An ``array(_:)``.
    public init(arrayLiteral elements: BSONValue...) { self = .array(elements) }
}

extension BSONValue: ExpressibleByDictionaryLiteral {
    /// A ``document(_:)`` whose keys keep the literal's order.
    public init(dictionaryLiteral elements: (String, BSONValue)...) {
        self = .document(Document(elements))
    }
}
