import Foundation
import Glibc
import Logging

/// How the fleet's processes write their logs to standard error, chosen by `LOG_FORMAT`:
///
/// - `text` (the default): swift-log's one line per entry, for people at a terminal.
/// - `json`: one JSON object per line (``JSONLogHandler``), for a log pipeline (Loki, Elasticsearch,
///   CloudWatch, `journalctl -o cat | jq`): every metadata field is a key of its own, so an order id,
///   a queue or an error can be searched without parsing text.
///
/// `LOG_LEVEL` (`trace` … `critical`, default `info`) sets the level in both. docs/operations.md,
/// "Logs", lists the keys.
public enum LogOutput {
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    /// What is wrong with `LOG_FORMAT` or `LOG_LEVEL`, said for a person.
    public struct InvalidSetting: Error, CustomStringConvertible {
        public var description: String
    }

    /// The format and level `environment` asks for.
    /// - Throws: ``InvalidSetting`` for a value that is neither a format nor a level.
    public static func settings(_ environment: [String: String]) throws -> (format: Format, level: Logger.Level) {
        let formatText = environment["LOG_FORMAT"]?.lowercased() ?? "text"
        guard let format = Format(rawValue: formatText) else {
            throw InvalidSetting(
                description: "LOG_FORMAT must be one of \(Format.allCases.map(\.rawValue).joined(separator: ", ")), "
                    + "not '\(formatText)'")
        }
        let levelText = environment["LOG_LEVEL"]?.lowercased() ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else {
            throw InvalidSetting(
                description:
                    "LOG_LEVEL must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), "
                    + "not '\(levelText)'")
        }
        return (format, level)
    }

    /// Who is logging, written on every JSON line (`worker`, `host`, `pid`, `copy_id`) so that the
    /// lines of many copies in one log store can be told apart without parsing text.
    public struct Identity: Sendable {
        public var worker: String
        public var host: String
        public var pid: Int32
        public var copyID: String

        public init(worker: String, host: String, pid: Int32, copyID: String) {
            self.worker = worker
            self.host = host
            self.pid = pid
            self.copyID = copyID
        }

        /// The fields, in the order they are written.
        var fields: [(String, String)] {
            [("worker", worker), ("host", host), ("pid", "\(pid)"), ("copy_id", copyID)]
        }
    }

    /// Bootstraps swift-log from `environment`. A value it cannot take is reported on standard
    /// error and the process exits 78 (EX_CONFIG), as for any other configuration error: nothing
    /// has been logged yet, so there is no other way to say it. With `identity`, every JSON line
    /// carries it; text lines stay as swift-log writes them.
    public static func bootstrap(_ environment: [String: String], identity: Identity? = nil) {
        let format: Format
        let level: Logger.Level
        do {
            (format, level) = try settings(environment)
        } catch {
            FileHandle.standardError.write(Data("invalid configuration: \(error)\n".utf8))
            exit(78)
        }
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label, identity: identity)
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// Writes each entry as one line of JSON to standard error:
///
/// ```
/// {"time":"2026-12-03T14:53:11.042Z","level":"info","logger":"order-worker","message":"connected to broker","endpoint":"10.77.0.11:5672","heartbeat":"5s","queue":"order-worker","source":"WorkerRuntime"}
/// ```
///
/// `time` (UTC, milliseconds), `level`, `logger` (the process's label), `message`, with an
/// identity `worker`, `host`, `pid` (a number) and `copy_id`, then the metadata (the handler's,
/// then the entry's) as keys of their own, then `source` (the module). A metadata key that would
/// shadow one of those is written as `metadata.<key>`. Nested metadata
/// becomes JSON objects and arrays. Each line is written with one `write(2)`, so lines from
/// several threads never interleave.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let write: @Sendable (String) -> Void
    /// The identity's part of every line, already encoded.
    private let identityFields: String
    private let reserved: Set<String>

    static let fixedKeys: Set<String> = ["time", "level", "logger", "message", "source"]

    /// A handler for `label` writing to standard error, or to `write` (tests).
    public init(
        label: String, identity: LogOutput.Identity? = nil, write: (@Sendable (String) -> Void)? = nil
    ) {
        self.label = label
        var encoded = ""
        for (key, value) in identity?.fields ?? [] {
            encoded += ","
            Self.appendString(key, to: &encoded)
            encoded += ":"
            if key == "pid" { encoded += value } else { Self.appendString(value, to: &encoded) }
        }
        identityFields = encoded
        reserved = Self.fixedKeys.union((identity?.fields ?? []).map(\.0))
        self.write =
            write ?? { line in
                line.utf8CString.withUnsafeBufferPointer { buffer in
                    _ = Glibc.write(2, buffer.baseAddress, buffer.count - 1)
                }
            }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "{\"time\":"
        Self.appendString(Self.timestamp(Date()), to: &line)
        line += ",\"level\":"
        Self.appendString(event.level.rawValue, to: &line)
        line += ",\"logger\":"
        Self.appendString(label, to: &line)
        line += ",\"message\":"
        Self.appendString(event.message.description, to: &line)
        line += identityFields
        let fields = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in fields.keys.sorted() {
            line += ","
            Self.appendString(reserved.contains(key) ? "metadata.\(key)" : key, to: &line)
            line += ":"
            Self.append(fields[key]!, to: &line)
        }
        line += ",\"source\":"
        Self.appendString(event.source, to: &line)
        line += "}\n"
        write(line)
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    static func append(_ value: Logger.Metadata.Value, to line: inout String) {
        switch value {
        case .string(let text): appendString(text, to: &line)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &line)
        case .array(let values):
            line += "["
            for (index, element) in values.enumerated() {
                if index > 0 { line += "," }
                append(element, to: &line)
            }
            line += "]"
        case .dictionary(let dictionary):
            line += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                if index > 0 { line += "," }
                appendString(key, to: &line)
                line += ":"
                append(dictionary[key]!, to: &line)
            }
            line += "}"
        }
    }

    /// `text` as a JSON string: quotes, backslashes and every control character escaped, so that
    /// a message holding a newline (an error from a server, a hostile message's text) stays on
    /// its line.
    static func appendString(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case _
            where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}"
                || scalar == "\u{2029}":
                line += String(format: "\\u%04x", scalar.value)
            default: line.unicodeScalars.append(scalar)
            }
        }
        line += "\""
    }
}
