import Foundation

/// A set of local executables started and stopped together: the worker fleet of a benchmark or
/// a fault-injection run, each copy a ``ChildProcess`` with its own environment, `/health` port
/// and log file.
///
/// The fleet only runs processes; what each member is told (queues, databases, ports) is the
/// caller's business. Members are started in the order added and stopped all at once with
/// SIGTERM, so each drains in parallel. A member can be killed (SIGKILL, as a crash) and started
/// again with the same settings, which a chaos run needs.
///
/// Not thread-safe: use one instance from one thread at a time. Releasing the fleet kills what
/// still runs (see ``ChildProcess``).
public final class LocalFleet {
    /// One process of the fleet: which executable, under what name, with what environment.
    public struct Member: Sendable {
        /// Unique within the fleet, also the log file's name: `stock-worker#2`.
        public var name: String
        /// The executable's file name in the fleet's ``LocalFleet/binDirectory``.
        public var executable: String
        /// Variables added to the fleet's inherited environment (they win over it).
        public var environment: [String: String]
        /// The loopback port of its `/health` endpoint; `nil` when it has none (readiness is then
        /// only "still running").
        public var healthPort: Int?
        /// Arguments passed to the executable.
        public var arguments: [String]

        public init(
            name: String, executable: String, environment: [String: String], healthPort: Int?,
            arguments: [String] = []
        ) {
            self.name = name
            self.executable = executable
            self.environment = environment
            self.healthPort = healthPort
            self.arguments = arguments
        }
    }

    /// How one member ended after ``stop(timeout:)``.
    public struct Exit: Sendable, CustomStringConvertible {
        public var name: String
        /// The exit status (or signal number, see ``signalled``); `nil` when it still ran at the deadline
        /// and was killed.
        public var status: Int32?
        /// Whether a signal ended it rather than its own `exit`.
        public var signalled: Bool

        /// Exited by itself with status 0.
        public var isClean: Bool { status == 0 && !signalled }

        public var description: String {
            guard let status else { return "\(name): still running at the deadline, killed" }
            return signalled ? "\(name): ended by signal \(status)" : "\(name): exit \(status)"
        }
    }

    /// Where the executables are (a SwiftPM bin folder).
    public let binDirectory: URL
    /// The members' working directory.
    public let workingDirectory: URL
    /// Where each member's log goes, as `<name>.log`.
    public let logDirectory: URL
    private let inherited: [String: String]
    private var members: [Member] = []
    private var processes: [String: ChildProcess] = [:]

    /// - Parameter inheritedEnvironment: the part of the caller's environment every member gets
    ///   (a toolchain's library path, `HOME`, a locale); nothing else is passed through, so a
    ///   stray variable in an operator's shell cannot change what a member is told.
    public init(binDirectory: URL, workingDirectory: URL, logDirectory: URL, inheritedEnvironment: [String: String]) {
        self.binDirectory = binDirectory
        self.workingDirectory = workingDirectory
        self.logDirectory = logDirectory
        self.inherited = inheritedEnvironment
    }

    /// The members added so far, in order.
    public var memberList: [Member] { members }

    /// The running (or exited) process of member `name`.
    public func process(_ name: String) -> ChildProcess? { processes[name] }

    /// Process ids of every member started, by name.
    public var processIdentifiers: [String: Int32] { processes.mapValues(\.processIdentifier) }

    /// Whether `executable` is in the bin folder and executable.
    public func hasExecutable(_ executable: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: binDirectory.appendingPathComponent(executable).path)
    }

    /// Adds `member` and starts it (without waiting for it to be ready).
    /// - Throws: ``LocalProcessError`` for a duplicate name, a missing executable or a launch failure.
    public func start(_ member: Member) throws(LocalProcessError) {
        guard !members.contains(where: { $0.name == member.name }) else {
            throw LocalProcessError("the fleet already has a member named \(member.name)")
        }
        members.append(member)
        try launch(member)
    }

    /// Starts member `name` again with its settings, after it exited or was killed.
    /// - Throws: ``LocalProcessError`` when there is no such member, it still runs, or it cannot be launched.
    public func restart(_ name: String) throws(LocalProcessError) {
        guard let member = members.first(where: { $0.name == name }) else {
            throw LocalProcessError("the fleet has no member named \(name)")
        }
        if let running = processes[name], running.isRunning {
            throw LocalProcessError("\(name) is still running (pid \(running.processIdentifier))")
        }
        try launch(member)
    }

    private func launch(_ member: Member) throws(LocalProcessError) {
        let executable = binDirectory.appendingPathComponent(member.executable)
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw LocalProcessError("no executable \(member.executable) in \(binDirectory.path)")
        }
        // A restart appends to the history a reader wants to see: keep the earlier log beside it.
        let log = logDirectory.appendingPathComponent("\(member.name).log")
        if processes[member.name] != nil, FileManager.default.fileExists(atPath: log.path) {
            let earlier = logDirectory.appendingPathComponent("\(member.name).\(Int(Date().timeIntervalSince1970)).log")
            try? FileManager.default.moveItem(at: log, to: earlier)
        }
        do {
            processes[member.name] = try ChildProcess(
                executable: executable, arguments: member.arguments,
                environment: inherited.merging(member.environment) { $1 }, workingDirectory: workingDirectory,
                logURL: log)
        } catch {
            if let error = error as? LocalProcessError { throw error }
            throw LocalProcessError("cannot start \(member.name) (\(executable.path)): \(error)")
        }
    }

    /// Waits until every member answers 200 on `/health` (or, without a port, still runs).
    /// - Throws: ``LocalProcessError`` naming the first member that exited (with its log's tail)
    ///   or that was not ready within `timeout`.
    public func waitUntilReady(timeout: Duration) throws(LocalProcessError) {
        let deadline = ContinuousClock.now + timeout
        var waiting = members
        while !waiting.isEmpty {
            var notReady: [Member] = []
            for member in waiting {
                guard let process = processes[member.name] else { continue }
                guard process.isRunning else {
                    throw LocalProcessError(
                        "\(member.name) exited with status \(process.terminationStatus) before it was ready:\n"
                            + process.logTail())
                }
                if let port = member.healthPort, LoopbackHTTP.get(port: port, path: "/health")?.status != 200 {
                    notReady.append(member)
                }
            }
            waiting = notReady
            if waiting.isEmpty { return }
            if ContinuousClock.now >= deadline {
                let names = waiting.map(\.name).joined(separator: ", ")
                let tail = waiting.first.flatMap { processes[$0.name]?.logTail() } ?? ""
                throw LocalProcessError("not ready after \(timeout): \(names); last lines of the first:\n\(tail)")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// Members that are no longer running, with how they ended: a crash shows here.
    public var exited: [Exit] {
        members.compactMap { member in
            guard let process = processes[member.name], !process.isRunning else { return nil }
            return Exit(
                name: member.name, status: process.terminationStatus,
                signalled: process.terminationReason == .uncaughtSignal)
        }
    }

    /// Sends SIGKILL to member `name`, as a crash would, and waits for it to be gone.
    public func kill(_ name: String) {
        guard let process = processes[name], process.isRunning else { return }
        process.kill()
        _ = process.waitForExit(timeout: .seconds(10))
    }

    /// Asks every running member to stop (SIGTERM, all at once so they drain in parallel), waits
    /// up to `timeout` for each, kills those still running, and says how each ended.
    public func stop(timeout: Duration) -> [Exit] {
        let running = members.filter { processes[$0.name]?.isRunning == true }
        for member in running { processes[member.name]?.terminate() }
        let deadline = ContinuousClock.now + timeout
        return members.compactMap { member in
            guard let process = processes[member.name] else { return nil }
            let remaining = deadline - ContinuousClock.now
            guard let status = process.waitForExit(timeout: max(remaining, .zero)) else {
                process.kill()
                _ = process.waitForExit(timeout: .seconds(10))
                return Exit(name: member.name, status: nil, signalled: true)
            }
            return Exit(
                name: member.name, status: status, signalled: process.terminationReason == .uncaughtSignal)
        }
    }
}
