import FleetOperations
import Foundation

/// One run of a reference instrument (the benchmark references folder, `../shared/bench` by
/// default): the C ceiling of the saga flow (`ceiling/run.sh`), the raw broker
/// (`ceiling/run.sh raw`) or the Celery peer (`peer-celery/run.sh`). Each prints `RESULT {json}`
/// as its last line; the instruments are called as they are, never copied.
public struct ReferenceRun: Encodable {
    /// `ceiling`, `ceiling-rate`, `raw` or `celery`.
    public var name: String
    public var repetition: Int
    /// The command line as run (environment overrides first).
    public var command: String
    /// The instrument's own `RESULT` object, whole.
    public var result: JSONValue?
    public var ok: Bool
    public var error: String?
    /// Wall time of the whole script (build, setup and teardown included).
    public var wallSeconds: Double
    /// Its output, kept in the benchmark's output folder.
    public var log: String

    /// A number of ``result`` (`orders_per_s`, `p99_ms` …).
    public func number(_ key: String) -> Double? {
        guard case .object(let fields)? = result, case .number(let value)? = fields[key] else { return nil }
        return value
    }

    /// `cpu_s` of ``result``: CPU seconds per process group.
    public var cpuSeconds: [String: Double] {
        guard case .object(let fields)? = result, case .object(let cpu)? = fields["cpu_s"] else { return [:] }
        return cpu.compactMapValues { if case .number(let value) = $0 { value } else { nil } }
    }

    /// Runs `script` (relative to `directory`) with `arguments` under bash, its output to `log`,
    /// for at most `timeout`, and reads its last `RESULT` line.
    public static func run(
        name: String, repetition: Int, directory: URL, script: String, arguments: [String],
        environment extra: [String: String], log: URL, timeout: Duration
    ) -> ReferenceRun {
        // As the report shows it: URLs' passwords and every *PASSWORD* variable masked.
        let command =
            extra.sorted { $0.key < $1.key }.map {
                "\($0.key)=\($0.key.uppercased().contains("PASSWORD") ? "***" : OperationFailure.redacted($0.value))"
            }.joined(separator: " ")
            + (extra.isEmpty ? "" : " ") + ([script] + arguments).joined(separator: " ")
        var run = ReferenceRun(
            name: name, repetition: repetition, command: command, result: nil, ok: false, error: nil,
            wallSeconds: 0, log: log.path)
        let started = ContinuousClock.now
        defer { run.wallSeconds = (ContinuousClock.now - started).seconds }
        guard FileManager.default.createFile(atPath: log.path, contents: nil),
            let output = try? FileHandle(forWritingTo: log)
        else {
            run.error = "cannot create \(log.path)"
            return run
        }
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [directory.appendingPathComponent(script).path] + arguments
        process.currentDirectoryURL = directory
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            run.error = "cannot run \(script): \(error)"
            return run
        }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                // SIGTERM lets the scripts' traps remove what they created.
                process.terminate()
                Thread.sleep(forTimeInterval: 30)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                run.error = "did not finish within \(timeout)"
                return run
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("RESULT ") }),
            let object = try? JSONDecoder().decode(JSONValue.self, from: Data(line.dropFirst("RESULT ".count).utf8))
        else {
            run.error = "no RESULT line (exit \(process.terminationStatus)); see \(log.path)"
            return run
        }
        run.result = object
        if case .object(let fields)? = run.result, case .bool(let ok)? = fields["ok"] { run.ok = ok }
        if !run.ok {
            if case .object(let fields)? = run.result, case .string(let error)? = fields["error"] {
                run.error = error
            } else {
                run.error = "ok is false (exit \(process.terminationStatus)); see \(log.path)"
            }
        }
        return run
    }

    public init(
        name: String, repetition: Int, command: String, result: JSONValue?, ok: Bool, error: String?,
        wallSeconds: Double, log: String
    ) {
        self.name = name
        self.repetition = repetition
        self.command = command
        self.result = result
        self.ok = ok
        self.error = error
        self.wallSeconds = wallSeconds
        self.log = log
    }
}

/// Any JSON value, to carry an instrument's `RESULT` object into the benchmark's own JSON whole.
public enum JSONValue: Codable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Booleans and numbers stay apart: each kind is tried in turn, and JSON's `true` is no number.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
