import Foundation
import Glibc

/// An executable started by this process with an environment of our choosing, its standard
/// output and error going to a log file.
///
/// The process is killed (SIGKILL) when the value is released while it still runs, so a caller
/// that fails half-way (a command, a test) never leaves a child behind.
///
/// Not thread-safe: use one instance from one thread at a time.
public final class ChildProcess {
    private let process = Process()
    /// The file that receives the child's standard output and standard error.
    public let logURL: URL

    /// Starts `executable` with `arguments` in `workingDirectory`.
    ///
    /// - Parameters:
    ///   - environment: the child's whole environment; nothing of ours is inherited, so callers
    ///     decide what passes through (merge `ProcessInfo.processInfo.environment` to pass all).
    ///   - logURL: created, or truncated if it exists, before the child starts.
    /// - Throws: ``LocalProcessError`` when the log file cannot be created, or Foundation's error
    ///   when the executable cannot be launched.
    public init(
        executable: URL, arguments: [String] = [], environment: [String: String], workingDirectory: URL, logURL: URL
    ) throws {
        self.logURL = logURL
        guard FileManager.default.createFile(atPath: logURL.path, contents: nil) else {
            throw LocalProcessError("cannot create the log file \(logURL.path)")
        }
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = workingDirectory
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }

    /// The child's process id.
    public var processIdentifier: Int32 { process.processIdentifier }

    /// Whether the child has not exited yet.
    public var isRunning: Bool { process.isRunning }

    /// The exit status, or the signal number when ``terminationReason`` is `.uncaughtSignal`.
    /// Only meaningful once ``isRunning`` is `false`.
    public var terminationStatus: Int32 { process.terminationStatus }

    /// Whether the child exited by itself or was ended by a signal. Only meaningful once
    /// ``isRunning`` is `false`.
    public var terminationReason: Process.TerminationReason { process.terminationReason }

    /// Everything the child has written so far (empty when the log cannot be read).
    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// The last `lines` lines of the log, for error messages.
    public func logTail(lines: Int = 15) -> String {
        log.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Asks for a graceful stop (SIGTERM).
    public func terminate() { Glibc.kill(process.processIdentifier, SIGTERM) }

    /// Ends the child at once (SIGKILL), as a crash would.
    public func kill() { Glibc.kill(process.processIdentifier, SIGKILL) }

    /// Waits for the child to exit: its ``terminationStatus``, or `nil` if it still runs after
    /// `timeout`. Polls every 20 ms, which is fine for the seconds-long waits it is made for.
    public func waitForExit(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return process.terminationStatus
    }
}
