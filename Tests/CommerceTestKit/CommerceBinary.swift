import Foundation
import Glibc
import LocalProcess
import Synchronization
import Testing

/// What one run of the built `commerce` binary did.
public struct CommerceRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    /// Standard output as a JSON object, or empty when it is not one.
    public var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
    }

    /// Standard output as a JSON object; the test fails when it is not one.
    public func requiredJSON() throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "not JSON: \(stdout)")
    }
}

/// Runs the built `commerce` with `arguments`, as an operator would: standard input from
/// /dev/null (not a terminal) and a working directory without `config/`. `environment` adds
/// variables (`EDITOR` for `dlq replay --edit`).
public func runCommerce(_ arguments: [String], environment: [String: String] = [:]) throws -> CommerceRun {
    try runBuilt("commerce", arguments, environment: environment)
}

/// Runs the built `commerce-lab` (benchmarks, chaos, the demo) as ``runCommerce(_:environment:)``
/// runs `commerce`.
public func runCommerceLab(_ arguments: [String], environment: [String: String] = [:]) throws -> CommerceRun {
    try runBuilt("commerce-lab", arguments, environment: environment)
}

private func runBuilt(_ executable: String, _ arguments: [String], environment: [String: String]) throws
    -> CommerceRun
{
    let binary = try CommerceBinary.required(executable)
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    process.currentDirectoryURL = FileManager.default.temporaryDirectory
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    // Both pipes are read to the end before waiting: a full pipe would block the child.
    let errData = Mutex<Data?>(nil)
    let reader = Thread { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } }
    reader.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while errData.withLock({ $0 == nil }) { Thread.sleep(forTimeInterval: 0.01) }
    return CommerceRun(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData.withLock { $0 ?? Data() }, as: UTF8.self))
}

/// Runs the built `commerce-lab` as ``runCommerceLab(_:environment:)`` does, but spawned and reaped here
/// (`posix_spawn`, `waitpid`) with its output in files. For commands that restart servers
/// (`commerce-lab chaos`): Foundation's `Process` was seen never to notice such a child's exit, which
/// stayed a zombie while `waitUntilExit` waited for ever.
public func runCommerceLabReaped(_ arguments: [String]) throws -> CommerceRun {
    let binary = try CommerceBinary.required("commerce-lab")
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("commerce-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let out = folder.appendingPathComponent("stdout").path
    let err = folder.appendingPathComponent("stderr").path
    let status: Int32
    do {
        status = try spawnAndWait([binary.path] + arguments, standardOutput: out, standardError: err)
    } catch {
        Issue.record("\(error)")
        throw error
    }
    return CommerceRun(
        status: status,
        stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
}
