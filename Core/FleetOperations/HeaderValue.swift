import AMQP
import Foundation

/// An AMQP header value as JSON, for `--json` and `commerce dlq export`: strings, numbers and
/// booleans as themselves, a timestamp as ISO 8601, bytes as base64, tables and arrays nested.
public enum HeaderValue: Encodable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case array([HeaderValue])
    case object([String: HeaderValue])
    case null

    public init(_ value: AMQPFieldValue) {
        switch value {
        case .string(let text): self = .string(text)
        case .int(let number): self = .int(number)
        case .bool(let flag): self = .bool(flag)
        case .double(let number): self = .double(number)
        case .timestamp(let seconds):
            self = .string(Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601))
        case .bytes(let bytes): self = .string(Data(bytes).base64EncodedString())
        case .array(let values): self = .array(values.map(HeaderValue.init))
        case .table(let table): self = .object(table.mapValues(HeaderValue.init))
        case .decimal(let scale, let value):
            self = .double(Double(value) / pow(10, Double(scale)))
        case .void: self = .null
        }
    }

    public static func table(_ table: AMQPTable) -> [String: HeaderValue] { table.mapValues(HeaderValue.init) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text): try container.encode(text)
        case .int(let number): try container.encode(number)
        case .double(let number): try container.encode(number)
        case .bool(let flag): try container.encode(flag)
        case .array(let values): try container.encode(values)
        case .object(let table): try container.encode(table)
        case .null: try container.encodeNil()
        }
    }

    /// One line of text for `commerce dlq show`.
    public var text: String {
        switch self {
        case .string(let text): BodyText.escaped(Array(text.utf8)).replacingOccurrences(of: "\n", with: "\\n")
        case .int(let number): "\(number)"
        case .double(let number): "\(number)"
        case .bool(let flag): "\(flag)"
        case .array(let values): "[" + values.map(\.text).joined(separator: ", ") + "]"
        case .object(let table):
            "{" + table.keys.sorted().map { "\($0): \(table[$0]!.text)" }.joined(separator: ", ") + "}"
        case .null: "null"
        }
    }
}
