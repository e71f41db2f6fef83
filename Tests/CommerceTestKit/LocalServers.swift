import Foundation
import Glibc
import Testing

// Control of the local servers for the disruptive tests (their suites' names contain
// `Disruptive`; scripts/test.sh runs them alone, after every other test).

/// The local cluster `scripts/services.sh` runs (first line of `pg_lsclusters`).
public func postgresCluster() throws -> (version: String, name: String) {
    let output = try run("pg_lsclusters", "-h")
    let fields = output.split(separator: "\n").first?.split(separator: " ", omittingEmptySubsequences: true) ?? []
    guard fields.count >= 2 else {
        Issue.record("no PostgreSQL cluster in `pg_lsclusters`: \(output)")
        throw CocoaError(.fileNoSuchFile)
    }
    return (String(fields[0]), String(fields[1]))
}

/// Runs a command to completion; throws with its output if it fails.
///
/// Through `system(3)` rather than Foundation's `Process`: `pg_ctlcluster` switches to the
/// postgres user and daemonizes, and `Process.waitUntilExit()` was seen never to return for it.
/// The arguments are constants of these tests, never input.
@discardableResult
public func run(_ arguments: String...) throws -> String {
    let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("run-\(UUID().uuidString).out")
    defer { try? FileManager.default.removeItem(at: outputURL) }
    let command = arguments.joined(separator: " ") + " > \(outputURL.path) 2>&1 < /dev/null"
    let status = system(command)
    let output = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
    guard status == 0 else {
        Issue.record("`\(arguments.joined(separator: " "))` failed (status \(status)): \(output)")
        throw CocoaError(.executableLoad)
    }
    return output
}

/// Stops the local PostgreSQL cluster (fast shutdown) and returns the function that starts it
/// again; that function tolerates a cluster that is already up, so a test calls it in a `defer`
/// too, to leave the server running even when it fails half-way.
public func stopPostgres() throws -> () throws -> Void {
    let cluster = try postgresCluster()
    try run("pg_ctlcluster", cluster.version, cluster.name, "stop", "-m", "fast")
    return {
        _ = try run(
            "pg_ctlcluster", cluster.version, cluster.name, "start", "||", "pg_isready", "-q", "-h", "127.0.0.1")
    }
}
