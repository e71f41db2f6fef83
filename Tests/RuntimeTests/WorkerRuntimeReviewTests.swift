import AMQP
import CommerceMessages
import CommerceTestKit
import Foundation
import Postgres
import Synchronization
import Testing

@testable import WorkerRuntime

/// The runtime's second pass: one test per defect found in review (issue 7), each against real
/// servers and a real probe-worker process, and each failing on the runtime before the fix.
@Suite("Worker runtime: defects found in review")
struct WorkerRuntimeReviewTests {
    private func work(_ action: String, correlation: String, extra: String = "") -> ProbeFixture.Message {
        var message = ProbeFixture.Message.work(#"{"action":"\#(action)"\#(extra)}"#)
        message.correlationID = correlation
        return message
    }

    @Test("1. a handler cannot commit the batch half-way: a failing neighbour later costs nobody an effect")
    func handlerCannotCommit() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        // Handled in correlation-id order: ok, commit (refused), ok, fail, ok; all in one batch.
        let messages = [
            work("ok", correlation: "a1"), work("commit", correlation: "a2"), work("ok", correlation: "a3"),
            work("fail_permanent", correlation: "a4"), work("ok", correlation: "a5"),
        ]
        try fixture.publish(messages)
        try fixture.startWorker()
        try waitUntil("the failing message in the DLQ", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }
        try fixture.waitForEffects(4)
        try waitUntil("the queue to drain", { try fixture.depth(fixture.queue) }) { $0 == 0 }
        let expected = Dictionary(
            uniqueKeysWithValues: [0, 1, 2, 4].map { (messages[$0].messageID!, 1) })
        #expect(try fixture.effects() == expected)
    }

    @Test("2a. a message id with a NUL byte is refused at admission; its batch-mates take effect")
    func nulMessageID() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        var messages = (0..<10).map { work("ok", correlation: "n\($0)") }
        var hostile = work("ok", correlation: "n5b")
        hostile.messageID = "bad\u{0}id-\(UUID().uuidString)"
        messages.insert(hostile, at: 5)
        try fixture.publish(messages)
        let worker = try fixture.startWorker()
        try fixture.waitForEffects(10)
        try waitUntil("the hostile message in the DLQ", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }
        let letter = try #require(try fixture.drain(fixture.queue + ".dlq").first)
        #expect(letter.properties.headers[DeadLetterHeader.errorReason]?.stringValue == "invalid_message_id")
        #expect(try fixture.effectRows() == 10)
        #expect(!worker.log.contains("pausing consumption"), "a bad message is not an outage")
    }

    @Test("2b. a runtime statement refused for one message's data parks that message alone; no pause")
    func refusedRuntimeStatement() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        var messages = (0..<10).map { work("ok", correlation: "r\($0)") }
        // Emits two events with one message id: the outbox insert of its batch is refused (23505).
        let culprit = work("emit_twice", correlation: "r4b")
        messages.insert(culprit, at: 5)
        try fixture.publish(messages)
        let worker = try fixture.startWorker()
        try fixture.waitForEffects(10)
        try waitUntil("the culprit in the DLQ", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }
        let letter = try #require(try fixture.drain(fixture.queue + ".dlq").first)
        #expect(letter.properties.messageID == culprit.messageID)
        #expect(letter.properties.headers[DeadLetterHeader.errorReason]?.stringValue == "rejected_by_database")
        #expect(letter.properties.headers[DeadLetterHeader.errorClass]?.stringValue == "permanent")
        #expect(letter.properties.headers[DeadLetterHeader.errorMessage]?.stringValue?.contains("23505") == true)
        let effects = try fixture.effects()
        #expect(effects[culprit.messageID!] == nil)
        #expect(messages.filter { $0.messageID != culprit.messageID }.allSatisfy { effects[$0.messageID!] == 1 })
        #expect(!worker.log.contains("pausing consumption"), "a refused statement is not an outage")
    }

    @Test("2c. a handler that swallows a failed statement fails alone; its neighbours take effect")
    func swallowedDatabaseError() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        let messages = [
            work("ok", correlation: "s1"), work("swallow_error", correlation: "s2"), work("ok", correlation: "s3"),
        ]
        try fixture.publish(messages)
        try fixture.startWorker()
        try fixture.waitForEffects(2)
        try waitUntil("the swallower in the DLQ", timeout: .seconds(30), { try fixture.depth(fixture.queue + ".dlq") })
        {
            $0 == 1
        }
        let letter = try #require(try fixture.drain(fixture.queue + ".dlq").first)
        #expect(letter.properties.messageID == messages[1].messageID)
        #expect(try fixture.effects() == [messages[0].messageID!: 1, messages[2].messageID!: 1])
    }

    @Test("3. a copy whose database is unreachable does not consume")
    func noConsumingWithoutStore() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        try fixture.publish((0..<5).map { work("ok", correlation: "d\($0)") })
        let worker = try fixture.startWorker(
            ["DATABASE_URL": "postgresql://commerce:wrong@127.0.0.1:5432/nowhere?connect_timeout=2"],
            waitForReady: false)
        try waitUntil("the worker to report its database unreachable", timeout: .seconds(30), { worker.log }) {
            $0.contains("database unreachable")
        }
        try waitUntil("the broker connection", timeout: .seconds(10), { worker.log }) {
            $0.contains("connected to broker")
        }
        let status = try fixture.amqp.queueStatus(channel: fixture.channel, name: fixture.queue)
        #expect(status.consumerCount == 0)
        #expect(status.messageCount == 5, "every message stays ready for healthy copies")
        #expect(worker.http("/health")?.0 == 503)
    }

    @Test("4. a producer's message type does not become a metric label")
    func boundedTypeLabels() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker()
        let strange = "evil.\(UUID().uuidString.lowercased())"
        var message = work("ok", correlation: "m1")
        message.type = strange
        try fixture.publish([message])
        try waitUntil("the message in the DLQ", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }
        let metrics = try waitUntil("the dead letter counted", { worker.http("/metrics")?.1 ?? "" }) {
            $0.contains("commerce_messages_dead_lettered_total")
        }
        #expect(!metrics.contains(strange))
        #expect(metrics.contains(#"type="unknown""#))
    }

    @Test("5. quorum queues that dead-letter do so at least once")
    func atLeastOnceDeadLettering() throws {
        let fixture = try ProbeFixture()
        try fixture.startWorker()
        let listing = try rabbitmqctl(["list_queues", "-q", "--formatter", "json", "name", "arguments"])
        let queues = try #require(
            try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [[String: Any]], "rabbitmqctl output")
        // rabbitmqctl lists a queue's arguments as [name, type, value] triples.
        func arguments(_ name: String) -> [String: Any]? {
            guard let triples = queues.first(where: { $0["name"] as? String == name })?["arguments"] as? [[Any]]
            else { return nil }
            var result: [String: Any] = [:]
            for triple in triples where triple.count == 3 {
                if let key = triple[0] as? String { result[key] = triple[2] }
            }
            return result
        }
        for name in [fixture.queue, "\(fixture.queue).retry.300ms", "\(fixture.queue).retry.600ms"] {
            let queueArguments = try #require(arguments(name), "queue \(name) exists")
            #expect(queueArguments["x-dead-letter-strategy"] as? String == "at-least-once", "\(name)")
            #expect(queueArguments["x-overflow"] as? String == "reject-publish", "\(name)")
        }
        #expect(arguments("\(fixture.queue).dlq")?["x-dead-letter-strategy"] == nil)
    }

    @Test("6. every command the broker link takes is answered, even when the connection fails under them")
    func everyCommandAnswered() throws {
        let fixture = try ProbeFixture()
        let topology = Topology(exchange: fixture.exchange, queue: fixture.queue, bindings: ["probe.work"])
        let link = BrokerLink(
            configuration: BrokerLink.Configuration(
                amqp: try AMQPConfiguration(urls: TestServers.amqpURL, connectionName: "link-test"),
                topology: topology, declareTopology: true, prefetch: 10, publishTimeout: .seconds(5),
                reconnectDelays: .init(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(200))),
            logger: .init(label: "link-test"))
        link.start()
        defer { link.stop() }
        try waitUntil("the link to connect", { link.isConnected }) { $0 }
        // Publishes to a missing exchange close the publishing channel and make the link
        // reconnect; many callers at once make the I/O thread take several commands together.
        let callers = 24
        let group = DispatchGroup()
        let answered = Counter()
        for index in 0..<callers {
            group.enter()
            Thread.detachNewThread {
                let publication = BrokerLink.Publication(
                    exchange: "missing-\(UUID().uuidString)", routingKey: "x",
                    properties: AMQPProperties(messageID: "m\(index)"), body: [1])
                _ = link.publish([publication])
                answered.increment()
                group.leave()
            }
        }
        let outcome = group.wait(timeout: .now() + 60)
        #expect(outcome == .success, "only \(answered.value) of \(callers) publishes were answered")
    }

    @Test("7. the shutdown deadline bounds shutdown: a stuck handler exits non-zero and its message comes back")
    func shutdownDeadline() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker(["SHUTDOWN_TIMEOUT_MS": "1000"])
        let stuck = work("sleep", correlation: "t1", extra: #","sleep_ms":60000"#)
        try fixture.publish([stuck])
        try waitUntil("the worker to take the message", { try fixture.depth(fixture.queue) }) { $0 == 0 }
        Thread.sleep(forTimeInterval: 0.3)  // let the handler start
        worker.terminate()
        let status = worker.waitForExit(timeout: .seconds(20))
        #expect(status != nil, "the worker did not exit within 20 s of SIGTERM with a 1 s deadline")
        #expect(status != 0)
        try waitUntil("the message back in its queue", { try fixture.depth(fixture.queue) }) { $0 == 1 }
        #expect(try fixture.effectRows() == 0)
    }

    @Test("8. the relay takes another consumer's rows only once that consumer is gone and the grace has passed")
    func relayOwnership() throws {
        let fixture = try ProbeFixture()
        let database = try TestServers.postgres(url: fixture.databaseURL)
        try RuntimeSchema.migrate(database)
        // Consumer A is alive: its session holds the lock on its owner name, as a worker's does.
        let consumerA = try TestServers.postgres(url: fixture.databaseURL)
        try consumerA.query(
            "select pg_advisory_lock($1, hashtext($2))", [.int(Outbox.ownerLockSpace), .text("A")])
        let envelope = Envelope(correlationID: "o1", type: "probe.done", appID: "test")
        let rows = try consumerA.transaction { tx in
            try Outbox.insert(
                [OutgoingMessage(envelope: envelope, body: Array("{}".utf8))], exchange: fixture.exchange, owner: "A",
                on: tx)
        }
        #expect(rows.count == 1 && rows[0].id > 0)
        func relayable(by owner: String, grace: Duration) throws -> [String] {
            try database.transaction { tx in
                try Outbox.relayable(owner: owner, grace: grace, limit: 10, on: tx).map(\.message.envelope.messageID)
            }
        }
        // Within the grace (measured from a precise created_at), nobody else takes it.
        #expect(try relayable(by: "B", grace: .seconds(10)).isEmpty)
        // Past the grace, still not while A lives (A may be in a long publish).
        #expect(try relayable(by: "B", grace: .zero).isEmpty)
        // A itself may relay its own rows at any time.
        #expect(try relayable(by: "A", grace: .seconds(10)) == [envelope.messageID])
        // A's session ends (a crash): B takes the row after the grace.
        consumerA.close()
        try waitUntil("A's lock to go with its session", { try relayable(by: "B", grace: .zero) }) {
            $0 == [envelope.messageID]
        }
        let precise = try database.query(
            "select created_at <> date_trunc('second', created_at) as fractional from runtime_outbox"
        ).rows[0].bool("fractional")
        #expect(precise, "created_at keeps sub-second precision (about one chance in a million to fail)")
    }

    @Test("9. a producer's x-attempts and x-original-routing-key are ignored on a fresh message")
    func forgedRuntimeHeaders() throws {
        let fixture = try ProbeFixture()
        try fixture.startWorker()
        var message = work("fail_transient", correlation: "h1", extra: #","failures":1"#)
        message.headers = [
            DeadLetterHeader.attempts: .int(4_611_686_018_427_387_904),
            DeadLetterHeader.originalRoutingKey: "probe.elsewhere",
        ]
        try fixture.publish([message])
        try fixture.waitForEffects(1)
        #expect(try fixture.effectAttempts(message.messageID!) == [1], "retried once, then took effect")
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
    }

    @Test("10. a JSON content type with a UTF-8 charset parameter is accepted; another charset is refused")
    func contentTypeParameters() throws {
        let fixture = try ProbeFixture()
        try fixture.startWorker()
        var good = work("ok", correlation: "c1")
        good.contentType = "application/json; charset=utf-8"
        var latin = work("ok", correlation: "c2")
        latin.contentType = "application/json; charset=iso-8859-1"
        try fixture.publish([good, latin])
        try fixture.waitForEffects(1)
        try waitUntil("the latin-1 message in the DLQ", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }
        let letter = try #require(try fixture.drain(fixture.queue + ".dlq").first)
        #expect(letter.properties.messageID == latin.messageID)
        #expect(letter.properties.headers[DeadLetterHeader.errorReason]?.stringValue == "wrong_content_type")
        #expect(try fixture.effects() == [good.messageID!: 1])
    }

    @Test("the phase outside the transaction runs once per message, even when the transaction runs again")
    func preparePhase() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        var messages = (0..<6).map { work("ok", correlation: "p\($0)") }
        messages.insert(work("fail_permanent", correlation: "p2b"), at: 3)
        messages.append(work("fail_prepare", correlation: "p9"))
        try fixture.publish(messages)
        let worker = try fixture.startWorker(["PROBE_PREPARE_MS": "20"])
        try fixture.waitForEffects(6)
        try waitUntil("two dead letters", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 2 }
        let letters = try fixture.drain(fixture.queue + ".dlq")
        #expect(
            Set(letters.compactMap { $0.properties.headers[DeadLetterHeader.errorReason]?.stringValue })
                == ["probe_prepare", "probe_permanent"])
        let database = try TestServers.postgres(url: fixture.databaseURL)
        let prepared = try database.query("select count(distinct prepared) as n from probe_effects").rows[0].int("n")
        #expect(prepared == 6, "each effect carries its own preparation")
        // Eight messages prepared once each, although the transaction ran twice (once with the
        // failing message, once without).
        let metrics = worker.http("/metrics")?.1 ?? ""
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("commerce_prepare_duration_seconds_count") }
        #expect(line.map { $0.hasSuffix(" 8") } == true, "\(line ?? "no prepare metric")")
    }

    @Test("a dependency outage pauses the worker without counting attempts; it resumes when the dependency is back")
    func dependencyOutagePauses() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        let down = FileManager.default.temporaryDirectory.appendingPathComponent("dependency-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: down.path, contents: Data())
        defer { try? FileManager.default.removeItem(at: down) }
        let messages = (0..<200).map { work("ok", correlation: "o\($0)") }
        try fixture.publish(messages)
        let worker = try fixture.startWorker(
            ["PROBE_PREPARE_MS": "1", "PROBE_DEPENDENCY_DOWN_FILE": down.path], waitForReady: false)
        try waitUntil("the worker to pause", timeout: .seconds(30), { worker.log }) {
            $0.contains("probe dependency unavailable; pausing consumption")
        }
        try waitUntil("/health to report the pause", timeout: .seconds(10), { worker.http("/health") }) {
            $0?.0 == 503 && $0?.1.contains("paused, probe dependency unavailable") == true
        }
        try waitUntil("every message back in the queue", timeout: .seconds(20), { try fixture.depth(fixture.queue) }) {
            $0 == messages.count
        }
        let status = try fixture.amqp.queueStatus(channel: fixture.channel, name: fixture.queue)
        #expect(status.consumerCount == 0, "a paused copy does not consume")
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
        #expect(try fixture.effectRows() == 0)

        try FileManager.default.removeItem(at: down)
        try fixture.waitForEffects(messages.count)
        #expect(try fixture.effects() == Dictionary(uniqueKeysWithValues: messages.map { ($0.messageID!, 1) }))
        for message in messages {
            #expect(try fixture.effectAttempts(message.messageID!) == [0], "the outage cost no attempt")
        }
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
        try waitUntil("/health ready again", timeout: .seconds(10), { worker.http("/health")?.0 }) { $0 == 200 }
        let metrics = worker.http("/metrics")?.1 ?? ""
        #expect(metrics.contains("commerce_dependency_outages_total"))
    }
}

/// A thread-safe counter for the concurrency tests.
private final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// Runs `rabbitmqctl` with `arguments` and returns its standard output.
private func rabbitmqctl(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/sbin/rabbitmqctl")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
