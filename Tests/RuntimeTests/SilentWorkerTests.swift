import AMQP
import CommerceTestKit
import Foundation
import Testing

/// A probe worker whose database or broker goes silent under load, through a ``FreezableProxy``
/// of the test's own (the shared servers keep running): the worker notices within its deadlines,
/// reports not ready, gives its deliveries back, and finishes the run once the link thaws, with
/// every message taking effect exactly once and none dead-lettered.
@Suite("Silent dependencies: a worker rides out a frozen link")
struct SilentWorkerTests {
    /// Short deadlines, so that a frozen link is noticed in seconds.
    static let shortDeadlines: [String: String] = [
        "DATABASE_CONNECT_TIMEOUT_MS": "2000", "DATABASE_ROUND_TRIP_TIMEOUT_MS": "3000",
        "DATABASE_STATEMENT_TIMEOUT_MS": "2500", "AMQP_RPC_TIMEOUT_MS": "3000", "AMQP_WRITE_TIMEOUT_MS": "3000",
        "AMQP_HEARTBEAT": "3", "CONSUMER_PUBLISH_TIMEOUT_MS": "3000", "CONSUMER_BROKER_REPLY_TIMEOUT_MS": "6000",
        "HEALTH_BATCH_DEADLINE_MS": "5000",
    ]

    /// How long the link stays frozen.
    static let frozenFor: Duration = .seconds(15)

    enum Link { case database, broker }

    @Test(
        "PostgreSQL frozen for 15 s under load: not ready within the deadline, deliveries given back, nothing lost or doubled"
    )
    func frozenDatabase() async throws {
        try await offThePool { try ride(.database) }
    }

    @Test(
        "RabbitMQ frozen for 15 s under load: not ready within the deadline, deliveries given back, nothing lost or doubled"
    )
    func frozenBroker() async throws {
        try await offThePool { try ride(.broker) }
    }

    private func ride(_ link: Link) throws {
        let fixture = try ProbeFixture()
        let proxy = try FreezableProxy(
            forwardingTo: link == .database ? fixture.databaseURL : TestServers.amqpURL)
        defer { proxy.stop() }
        var environment = Self.shortDeadlines
        switch link {
        case .database: environment["DATABASE_URL"] = proxy.redirect(fixture.databaseURL)
        case .broker: environment["AMQP_URL"] = proxy.redirect(TestServers.amqpURL)
        }
        let worker = try fixture.startWorker(environment)
        let count = 1_500
        try fixture.publish((0..<count).map { _ in ProbeFixture.Message.work(#"{"action":"sleep","sleep_ms":2}"#) })
        try waitUntil("some progress", { try fixture.effectRows() }) { $0 >= 100 }

        proxy.freeze()
        let frozenAt = ContinuousClock.now
        var thawed = false
        defer { if !thawed { proxy.thaw() } }
        // Not ready within the deadline: a round trip (3 s) or two heartbeats (6 s), plus the
        // time to report it.
        try waitUntil("not ready on /health/ready", timeout: .seconds(30), { worker.http("/health/ready")?.0 }) {
            $0 == 503
        }
        let detected = frozenAt.duration(to: .now)
        // The worker holds no delivery: none consumes the queue, and every message not yet taken
        // effect is ready in it again (a batch whose commit answer was lost may have both).
        let given = try waitUntil("the deliveries given back", timeout: .seconds(30)) {
            () -> (consumers: UInt32, ready: UInt32, done: Int) in
            let status = try fixture.amqp.queueStatus(channel: fixture.channel, name: fixture.queue)
            return (status.consumerCount, status.messageCount, try fixture.effectRows())
        } until: {
            $0.consumers == 0 && Int($0.ready) + $0.done >= count
        }
        let givenBack = frozenAt.duration(to: .now)
        #expect(given.done < count, "the run finished before the link froze; the test proves nothing")
        print("silent \(link): not ready after \(detected), deliveries back after \(givenBack)")

        let remaining = Self.frozenFor - frozenAt.duration(to: .now)
        if remaining > .zero {
            // The outage itself, not a synchronisation: the worker must ride it out.
            Thread.sleep(forTimeInterval: Double(remaining.components.seconds))
        }
        proxy.thaw()
        thawed = true
        try fixture.waitForEffects(count, timeout: .seconds(120))
        let effects = try fixture.effects()
        #expect(effects.count == count)
        #expect(effects.values.allSatisfy { $0 == 1 }, "doubled: \(effects.filter { $0.value > 1 }.count)")
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
        try waitUntil("ready again", timeout: .seconds(30), { worker.http("/health/ready")?.0 }) { $0 == 200 }
        #expect(worker.process.isRunning)
    }
}
