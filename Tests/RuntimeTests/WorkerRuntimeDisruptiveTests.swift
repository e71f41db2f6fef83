import CommerceTestKit
import Foundation
import Glibc
import Postgres
import Testing
import WorkerRuntime

/// Outages of the worker's own infrastructure. These restart RabbitMQ and stop PostgreSQL, so
/// `scripts/test.sh` runs them on their own, one at a time, after every other test.
@Suite("Disruptive: broker restart and database outage", .serialized)
struct WorkerRuntimeDisruptiveTests {
    @Test("RabbitMQ restarted during a run: the worker reconnects and the run completes exactly once")
    func brokerRestart() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker()
        let count = 3_000
        try fixture.publish((0..<count).map { _ in ProbeFixture.Message.work(#"{"action":"sleep","sleep_ms":1}"#) })
        try waitUntil("some progress", { try fixture.effectRows() }) { $0 >= 200 }
        try run("rabbitmqctl", "stop_app")
        defer { _ = try? run("rabbitmqctl", "start_app") }
        try run("rabbitmqctl", "start_app")
        try run("rabbitmqctl", "await_startup")
        try fixture.reconnect()
        try fixture.waitForEffects(count, timeout: .seconds(180))
        let effects = try fixture.effects()
        #expect(effects.count == count)
        #expect(effects.values.allSatisfy { $0 == 1 }, "duplicated effects: \(effects.filter { $0.value > 1 }.count)")
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
        #expect(worker.log.contains("reconnecting"))
        #expect(worker.process.isRunning)
    }

    @Test("PostgreSQL stopped for 30 s: nothing is dead-lettered and the run completes once it is back")
    func databaseOutage() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker()
        let count = 2_000
        try fixture.publish((0..<count).map { _ in ProbeFixture.Message.work(#"{"action":"sleep","sleep_ms":2}"#) })
        try waitUntil("some progress", { try fixture.effectRows() }) { $0 >= 100 }
        // Started again even if the test fails half-way.
        let start = try stopPostgres()
        defer { _ = try? start() }
        // The outage itself, not a synchronisation: the worker must ride out 30 s without the database.
        Thread.sleep(forTimeInterval: 30)
        let health = worker.http("/health")
        #expect(health?.0 == 503, "not ready while the database is down: \(String(describing: health))")
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
        _ = try start()
        try fixture.reconnect()
        try fixture.waitForEffects(count, timeout: .seconds(180))
        let effects = try fixture.effects()
        #expect(effects.count == count)
        #expect(effects.values.allSatisfy { $0 == 1 })
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
        #expect(worker.log.contains("pausing consumption"))
        try waitUntil("ready again", { worker.http("/health")?.0 }) { $0 == 200 }
    }

    @Test(
        "a broker memory alarm blocks publishing: the publish times out, nothing is lost, it finishes once the alarm clears"
    )
    func memoryAlarm() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker(["CONSUMER_PUBLISH_TIMEOUT_MS": "3000"])
        // The handler sleeps, so the alarm is on by the time the worker publishes its event.
        let message = ProbeFixture.Message.work(#"{"action":"sleep","sleep_ms":1500,"emit":true}"#)
        try fixture.publish([message])
        try run("rabbitmqctl", "set_vm_memory_high_watermark", "0.0000001")
        defer { _ = try? run("rabbitmqctl", "set_vm_memory_high_watermark", "0.4") }
        try waitUntil("the worker to see the alarm", { worker.log }) { $0.contains("broker blocked publishing") }
        #expect(worker.log.contains("publish failed; requeueing the batch"))
        #expect(try fixture.depth(fixture.doneQueue) == 0)
        try run("rabbitmqctl", "set_vm_memory_high_watermark", "0.4")
        try waitUntil("the event once the alarm cleared", { try fixture.depth(fixture.doneQueue) }) { $0 >= 1 }
        #expect(try fixture.effects() == [message.messageID!: 1])
        // The timed-out publish may still reach the broker once it reads our socket again, and the
        // relay publishes the outbox row too: at-least-once on the wire, one message id, which
        // the consumers' inboxes deduplicate.
        Thread.sleep(forTimeInterval: 1.5)
        let events = try fixture.drain(fixture.doneQueue)
        #expect((1...2).contains(events.count))
        #expect(Set(events.compactMap(\.properties.messageID)).count == 1)
        #expect(events.allSatisfy { $0.properties.headers["causation_id"]?.stringValue == message.messageID })
        #expect(worker.log.contains("broker unblocked publishing"))
        #expect(worker.process.isRunning)
    }

    @Test(
        "a disk alarm during a relay page: acks keep flowing on the consuming connection, nothing is lost once it clears"
    )
    func diskAlarmDuringRelay() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        // Messages that publish nothing need only acks. Queued before the alarm: the test's own
        // connection publishes, so the alarm blocks it too.
        let count = 300
        try fixture.publish((0..<count).map { _ in ProbeFixture.Message.work(#"{"action":"ok"}"#) })
        let database = try TestServers.postgres(url: fixture.databaseURL)
        defer { database.close() }
        // The worker's tables, then 2,000 ownerless rows for its relay, older than the grace:
        // pages of 256 rows of 2 KiB, enough to fill the socket's buffers under the alarm.
        try RuntimeSchema.migrate(database)
        try database.query(
            """
            insert into runtime_outbox
                (message_id, exchange, routing_key, correlation_id, message_type, app_id, body, created_at)
            select 'relay-' || g, $1, 'probe.done', 'order-relay', 'probe.done', 'runtime-test',
                   convert_to(repeat('x', 2048), 'UTF8'), now() - interval '1 hour'
            from generate_series(1, 2000) g
            """, [.text(fixture.exchange)])
        // The alarm: a free-disk limit far above the disk's free space. scripts/services.sh sets
        // none, so the broker runs with its default, 50 MB; restored even if the test fails.
        try run("rabbitmqctl", "set_disk_free_limit", "100000GB")
        defer { _ = try? run("rabbitmqctl", "set_disk_free_limit", "50MB") }
        // The relay's first page meets the alarm at once; the batch's publish gives up after 3 s.
        let worker = try fixture.startWorker([
            "CONSUMER_PUBLISH_TIMEOUT_MS": "3000", "OUTBOX_RELAY_INTERVAL_MS": "2000", "CONSUMER_PREFETCH": "64",
        ])
        try waitUntil("the worker to see the alarm", timeout: .seconds(60), { worker.log }) {
            $0.contains("broker blocked publishing")
        }
        // Acks flow on the consuming connection while the publishing one is blocked: with a
        // prefetch of 64, all 300 arrive only if the broker reads the acks.
        try fixture.waitForEffects(count, timeout: .seconds(90))
        try waitUntil(
            "every delivery acked during the alarm", timeout: .seconds(30),
            {
                try rabbitUnacked(fixture.queue)
            }
        ) { $0 == 0 }
        #expect(try fixture.depth(fixture.queue) == 0)
        #expect(!worker.log.contains("broker unblocked publishing"), "the alarm lasted through the acks")
        try run("rabbitmqctl", "set_disk_free_limit", "50MB")
        try waitUntil(
            "the relay to finish once the alarm cleared", timeout: .seconds(120),
            {
                try database.query("select count(*) as n from runtime_outbox").rows[0].int("n")
            }
        ) { $0 == 0 }
        try fixture.reconnect()
        // Timed-out pages may reach the broker twice: one message id each, which inboxes absorb.
        let events = try fixture.drain(fixture.doneQueue)
        #expect(Set(events.compactMap(\.properties.messageID)).count == 2000, "every relayed row arrived")
        #expect(try fixture.effects().count == count)
        #expect(try fixture.effects().values.allSatisfy { $0 == 1 })
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
        #expect(worker.process.isRunning)
    }

    /// Messages acknowledged but not yet settled by `queue`'s consumers, as the broker reports them.
    private func rabbitUnacked(_ queue: String) throws -> Int {
        let output = try run(
            "rabbitmqctl", "list_queues", "-q", "--no-table-headers", "name", "messages_unacknowledged")
        for line in output.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            if fields.count == 2, fields[0] == queue { return Int(fields[1]) ?? -1 }
        }
        return -1
    }
}
