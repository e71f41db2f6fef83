import FleetOperations
import Foundation
import LocalProcess
import Mongo

/// A SecantusDB (the MongoDB-protocol server of `scripts/services.sh`) of our own, on a free
/// loopback port with empty storage in a scratch folder, for one benchmark run.
///
/// Why: SecantusDB slows down as its history grows (an insert costs about 1 ms on a fresh
/// instance and ten times that after some ten thousand inserts and drops), so runs that share the
/// long-running server on 27017 are not comparable with each other or with a reference that
/// starts from another state. Every measured run of `commerce-lab bench` starts from this same
/// state instead. Started with `--sync-on-commit`, as `scripts/services.sh` starts the shared one.
public final class FreshSecantus {
    let port: Int
    /// `mongodb://127.0.0.1:<port>/?retryWrites=false`.
    public let url: String
    private let process: ChildProcess
    private let storage: URL

    /// Starts `python -m secantus` and waits until it answers a ping.
    /// - Parameters:
    ///   - python: an interpreter with the `secantusdb` package (`scripts/services.sh` makes `.venv/bin/python`).
    ///   - logDirectory: where `secantus-<port>.log` goes.
    /// - Throws: ``OperationFailure`` when it cannot start or does not answer within 60 s.
    public init(python: URL, logDirectory: URL) throws {
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw OperationFailure(
                "no Python with SecantusDB at \(python.path): run `scripts/services.sh up` (it makes .venv/), pass "
                    + "--secantus-python, or --mongo-url to use a running server instead of a fresh one")
        }
        port = try LocalPorts.free()
        url = "mongodb://127.0.0.1:\(port)/?retryWrites=false"
        storage = FileManager.default.temporaryDirectory.appendingPathComponent("commerce-bench-secantus-\(port)")
        try? FileManager.default.removeItem(at: storage)
        try FileManager.default.createDirectory(at: storage, withIntermediateDirectories: true)
        process = try ChildProcess(
            executable: python,
            arguments: [
                "-m", "secantus", "--host", "127.0.0.1", "--port", "\(port)", "--storage-path", storage.path,
                "--sync-on-commit",
            ],
            environment: ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "LANG"].contains($0.key) },
            workingDirectory: storage, logURL: logDirectory.appendingPathComponent("secantus-\(port).log"))
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            if !process.isRunning {
                throw OperationFailure(
                    "SecantusDB exited at start (status \(process.terminationStatus)):\n\(process.logTail())")
            }
            if let client = try? MongoClient(
                configuration: .init(uri: url, appName: "commerce-bench", serverSelectionTimeout: .milliseconds(500))),
                (try? client.ping()) != nil
            {
                return
            }
            if ContinuousClock.now >= deadline {
                stop()
                throw OperationFailure("SecantusDB did not answer on \(url) within 60 s:\n\(process.logTail())")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    deinit { stop() }

    /// The server's pid, for its CPU time.
    var processIdentifier: Int32 { process.processIdentifier }

    /// Stops the server (SIGTERM, then SIGKILL after 20 s) and removes its storage. Idempotent.
    public func stop() {
        if process.isRunning {
            process.terminate()
            if process.waitForExit(timeout: .seconds(20)) == nil {
                process.kill()
                _ = process.waitForExit(timeout: .seconds(5))
            }
        }
        try? FileManager.default.removeItem(at: storage)
    }
}
