import Foundation
import Glibc
import Synchronization
import Testing

/// What one run of the built `commerce` binary did.
struct CommerceRun {
    var status: Int32
    var stdout: String
    var stderr: String

    /// Standard output as a JSON object, or empty when it is not one.
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
    }

    /// Standard output as a JSON object; the test fails when it is not one.
    func requiredJSON() throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "not JSON: \(stdout)")
    }
}

/// Runs the built `commerce` with `arguments`, as an operator would: standard input from
/// /dev/null (not a terminal) and a working directory without `config/`. `environment` adds
/// variables (`EDITOR` for `dlq replay --edit`).
func runCommerce(_ arguments: [String], environment: [String: String] = [:]) throws -> CommerceRun {
    let binary = ProbeFixture.binary("commerce")
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
        Issue.record("no commerce at \(binary.path): build it with `swift build --product commerce`")
        throw CocoaError(.fileNoSuchFile)
    }
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

/// Runs the built `commerce` as ``runCommerce(_:)`` does, but spawned and reaped here
/// (`posix_spawn`, `waitpid`) with its output in files. For commands that restart servers
/// (`commerce chaos`): Foundation's `Process` was seen never to notice such a child's exit, which
/// stayed a zombie while `waitUntilExit` waited for ever.
func runCommerceReaped(_ arguments: [String]) throws -> CommerceRun {
    let binary = ProbeFixture.binary("commerce")
    guard FileManager.default.isExecutableFile(atPath: binary.path) else {
        Issue.record("no commerce at \(binary.path): build it with `swift build --product commerce`")
        throw CocoaError(.fileNoSuchFile)
    }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("commerce-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let out = folder.appendingPathComponent("stdout").path
    let err = folder.appendingPathComponent("stderr").path
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv = [binary.path] + arguments
    var cArguments = argv.map { strdup($0) } + [nil]
    defer { for pointer in cArguments { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, binary.path, &actions, nil, &cArguments, environ)
    guard spawned == 0 else {
        Issue.record("cannot start commerce: \(String(cString: strerror(spawned)))")
        throw CocoaError(.executableLoad)
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let signal = status & 0x7f
    return CommerceRun(
        status: signal == 0 ? (status >> 8) & 0xff : 128 + signal,
        stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
}
