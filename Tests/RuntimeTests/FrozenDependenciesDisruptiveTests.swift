import CommerceTestKit
import Foundation
import Glibc
import Testing

/// The shared servers themselves frozen with SIGSTOP for 60 s under load: the kernel still
/// accepts and acknowledges, nothing answers, and no connection closes, which only the clients'
/// deadlines can notice (docs/architecture.md, "Deadlines"). These stop every PostgreSQL or
/// RabbitMQ process, so `scripts/test.sh` runs them on their own, one at a time, after every
/// other test. SIGCONT is sent in a `defer`, so the servers run again even when a test fails.
@Suite("Disruptive: frozen dependencies", .serialized)
struct FrozenDependenciesDisruptiveTests {
    static let frozenFor: TimeInterval = 60

    @Test(
        "every PostgreSQL process stopped (SIGSTOP) for 60 s under load: not ready within the deadline, resumes after SIGCONT, nothing lost, doubled or dead-lettered"
    )
    func frozenPostgres() throws {
        try ride(processName: "postgres", expectInLog: "pausing consumption")
    }

    @Test(
        "RabbitMQ stopped (SIGSTOP of beam.smp) for 60 s under load: not ready within the deadline, resumes after SIGCONT, nothing lost, doubled or dead-lettered"
    )
    func frozenRabbitMQ() throws {
        try ride(processName: "beam.smp", expectInLog: "reconnecting")
    }

    private func ride(processName: String, expectInLog: String) throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker(SilentWorkerTests.shortDeadlines)
        let count = 2_000
        try fixture.publish((0..<count).map { _ in ProbeFixture.Message.work(#"{"action":"sleep","sleep_ms":2}"#) })
        try waitUntil("some progress", { try fixture.effectRows() }) { $0 >= 100 }

        let frozen = try Self.stop(processName)
        defer { Self.resume(frozen) }
        let frozenAt = Date()
        // Not ready within the deadline: a round trip (3 s) or two heartbeats (6 s), plus the
        // time to report it. The test reads the worker only, never the frozen server.
        try waitUntil("not ready on /health/ready", timeout: .seconds(30), { worker.http("/health/ready")?.0 }) {
            $0 == 503
        }
        print("frozen \(processName): worker not ready after \(Date().timeIntervalSince(frozenAt)) s")
        #expect(worker.http("/health/live")?.0 == 200, "an outage is no reason to restart the worker")
        let left = Self.frozenFor - Date().timeIntervalSince(frozenAt)
        // The outage itself, not a synchronisation: the worker must ride out 60 s of silence.
        if left > 0 { Thread.sleep(forTimeInterval: left) }
        Self.resume(frozen)

        try fixture.reconnect()
        try fixture.waitForEffects(count, timeout: .seconds(240))
        let effects = try fixture.effects()
        #expect(effects.count == count)
        #expect(effects.values.allSatisfy { $0 == 1 }, "doubled: \(effects.filter { $0.value > 1 }.count)")
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
        #expect(worker.log.contains(expectInLog))
        try waitUntil("ready again", timeout: .seconds(60), { worker.http("/health/ready")?.0 }) { $0 == 200 }
        #expect(worker.process.isRunning)
    }

    /// Sends SIGSTOP to every process named exactly `name` and returns their ids.
    private static func stop(_ name: String) throws -> [pid_t] {
        let pids = try run("pgrep", "-x", name).split(whereSeparator: \.isNewline).compactMap { pid_t($0) }
        try #require(!pids.isEmpty, "no process named \(name) to freeze")
        for pid in pids { kill(pid, SIGSTOP) }
        return pids
    }

    /// Sends SIGCONT to `pids` (again is harmless).
    private static func resume(_ pids: [pid_t]) {
        for pid in pids { kill(pid, SIGCONT) }
    }
}
