import AMQP
import CommerceTestKit
import Foundation
import Testing
import WorkerRuntime

/// The runtime's guarantees, checked across process boundaries: a real probe-worker process, a
/// real RabbitMQ and a real PostgreSQL (README.md, "What the worker runtime guarantees"; issue 4).
@Suite("Worker runtime against real servers")
struct WorkerRuntimeTests {
    @Test("a message failing transiently twice is retried through the delay tiers and takes effect once")
    func transientRetries() throws {
        let fixture = try ProbeFixture()
        try fixture.startWorker()
        let message = ProbeFixture.Message.work(#"{"action":"fail_transient","failures":2,"emit":true}"#)
        let sent = ContinuousClock.now
        try fixture.publish([message])
        try fixture.waitForEffects(1)
        let elapsed = ContinuousClock.now - sent
        // Tiers of 300 ms and 600 ms, each jittered down to no less than 80 %.
        #expect(elapsed >= .milliseconds(720), "retried too early: \(elapsed)")
        #expect(try fixture.effectAttempts(message.messageID!) == [2])
        try waitUntil("the probe.done event", { try fixture.depth(fixture.doneQueue) }) { $0 == 1 }
        Thread.sleep(forTimeInterval: 1)  // a duplicate effect would show up within the relay interval
        #expect(try fixture.effects() == [message.messageID!: 1])
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
    }

    @Test("bad input and exhausted retries are dead-lettered with error headers; the next message still works")
    func deadLetters() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker()
        func raw(
            _ body: String, contentType: String? = "application/json", type: String? = "probe.work", id: String? = nil
        )
            -> ProbeFixture.Message
        {
            ProbeFixture.Message(
                messageID: id ?? UUID().uuidString.lowercased(), body: Array(body.utf8), contentType: contentType,
                type: type)
        }
        let oversized = #"{"action":"ok","pad":""# + String(repeating: "x", count: 300_000) + #""}"#
        let cases: [(ProbeFixture.Message, String, String)] = [
            (raw("{not json"), "malformed_json", "permanent"),
            (raw(#"{"wrong":"shape"}"#), "schema_violation", "permanent"),
            (raw(#"{"action":"ok"}"#, type: "probe.unknown"), "unknown_type", "permanent"),
            (raw(""), "empty_body", "permanent"),
            (raw(#"{"action":"ok"}"#, contentType: "text/plain"), "wrong_content_type", "permanent"),
            (
                ProbeFixture.Message(messageID: nil, body: Array(#"{"action":"ok"}"#.utf8)), "missing_message_id",
                "permanent"
            ),
            (raw(#"{"action":"fail_permanent"}"#), "probe_permanent", "permanent"),
            (raw(#"{"action":"fail_transient","failures":99}"#), "retries_exhausted", "transient"),
        ]
        let good = ProbeFixture.Message.work(#"{"action":"ok"}"#)
        // Over consumer.maxBodyBytes: refused unread, and dead-lettered whole by the broker.
        let tooLarge = raw(oversized)
        try fixture.publish(cases.map(\.0) + [tooLarge, good])
        let dlq = fixture.queue + ".dlq"
        try waitUntil("\(cases.count + 1) dead letters", timeout: .seconds(30), { try fixture.depth(dlq) }) {
            $0 >= cases.count + 1
        }
        try fixture.waitForEffects(1)
        #expect(try fixture.effects() == [good.messageID!: 1])

        var letters = try fixture.drain(dlq)
        #expect(letters.count == cases.count + 1)
        if let index = letters.firstIndex(where: { $0.properties.messageID == tooLarge.messageID }) {
            let letter = letters.remove(at: index)
            #expect(letter.body == tooLarge.body)
            #expect(letter.properties.headers["x-first-death-reason"]?.stringValue == "rejected")
        } else {
            Issue.record("no dead letter for the oversized body")
        }
        for (message, reason, errorClass) in cases {
            let letter = letters.first {
                message.messageID == nil ? $0.properties.messageID == nil : $0.properties.messageID == message.messageID
            }
            guard let letter else {
                Issue.record("no dead letter for \(reason)")
                continue
            }
            let headers = letter.properties.headers
            #expect(headers[DeadLetterHeader.errorReason]?.stringValue == reason)
            #expect(headers[DeadLetterHeader.errorClass]?.stringValue == errorClass, "\(reason)")
            #expect(headers[DeadLetterHeader.errorMessage]?.stringValue?.isEmpty == false)
            #expect(headers[DeadLetterHeader.originalQueue]?.stringValue == fixture.queue)
            #expect(headers[DeadLetterHeader.originalRoutingKey]?.stringValue == "probe.work")
            #expect(headers[DeadLetterHeader.failedBy]?.stringValue?.hasPrefix("probe-worker@") == true)
            #expect(headers[DeadLetterHeader.failedAt]?.stringValue?.contains("T") == true)
            #expect(
                headers[DeadLetterHeader.attempts]?.intValue == (reason == "retries_exhausted" ? 3 : 1), "\(reason)")
            // Original body and properties are kept.
            #expect(letter.body == message.body, "\(reason)")
            #expect(letter.properties.correlationID == message.correlationID)
            #expect(letter.properties.type == message.type)
        }
        #expect(worker.process.isRunning)
        let metrics = worker.http("/metrics")?.1 ?? ""
        #expect(metrics.contains("commerce_messages_dead_lettered_total"))
    }

    @Test("the same message delivered twice has one effect and one emitted event")
    func duplicates() throws {
        let fixture = try ProbeFixture()
        try fixture.startWorker()
        let message = ProbeFixture.Message.work(#"{"action":"ok","emit":true}"#)
        try fixture.publish([message, message])  // likely in one batch
        try fixture.waitForEffects(1)
        try waitUntil("the queue to drain", { try fixture.depth(fixture.queue) }) { $0 == 0 }
        try fixture.publish([message])  // surely in a later batch
        try waitUntil("the queue to drain", { try fixture.depth(fixture.queue) }) { $0 == 0 }
        Thread.sleep(forTimeInterval: 1.5)  // past the relay's grace: a stray outbox row would be published
        #expect(try fixture.effects() == [message.messageID!: 1])
        #expect(try fixture.drain(fixture.doneQueue).count == 1)
    }

    @Test("a burst forms batches; a poison message in a batch is dead-lettered alone")
    func burst() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker()
        let count = 10_000
        var messages = (0..<count).map { _ in ProbeFixture.Message.work(#"{"action":"ok"}"#) }
        let poison = ProbeFixture.Message.work("{poison")
        messages.insert(poison, at: count / 2)
        try fixture.publish(messages)
        try fixture.waitForEffects(count, timeout: .seconds(240))
        try waitUntil("the poison message in the DLQ", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }
        let effects = try fixture.effects()
        #expect(effects.count == count)
        #expect(effects.values.allSatisfy { $0 == 1 })
        let letters = try fixture.drain(fixture.queue + ".dlq")
        #expect(letters.map(\.properties.messageID) == [poison.messageID])

        // Batches formed: more messages than transactions.
        let metrics = worker.http("/metrics")?.1 ?? ""
        let batches = metricValue(metrics, "commerce_batch_size_count")
        let delivered = metricValue(metrics, "commerce_batch_size_sum")
        #expect(delivered == Double(count + 1))
        #expect(
            batches ?? 0 > 0 && (delivered ?? 0) / (batches ?? 1) > 1.5,
            "mean batch size \(String(describing: delivered)) / \(String(describing: batches))")
    }

    @Test(
        "competing consumers: two worker processes of two consumers each share a queue; every message takes effect once"
    )
    func competingConsumers() throws {
        let fixture = try ProbeFixture()
        try fixture.startWorker(["CONSUMER_CONCURRENCY": "2"])
        try fixture.startWorker(["CONSUMER_CONCURRENCY": "2"])
        let count = 4_000
        try fixture.publish((0..<count).map { _ in ProbeFixture.Message.work(#"{"action":"ok","emit":true}"#) })
        try fixture.waitForEffects(count, timeout: .seconds(180))
        let effects = try fixture.effects()
        #expect(effects.count == count && effects.values.allSatisfy { $0 == 1 })
        try waitUntil("every probe.done", { try fixture.depth(fixture.doneQueue) }, until: { $0 >= count })
        let done = try fixture.depth(fixture.doneQueue)
        #expect(done == UInt32(count), "probe.done events: \(done)")
        #expect(try fixture.amqp.queueStatus(channel: fixture.channel, name: fixture.queue).consumerCount == 4)
    }

    @Test("killed after commit and before publish: the relay publishes the outbox, no duplicate effect")
    func crashAfterCommit() throws {
        let fixture = try ProbeFixture()
        let message = ProbeFixture.Message.work(#"{"action":"ok","emit":true}"#)
        let doomed = try fixture.startWorker(["PROBE_CRASH_AFTER_COMMIT": message.messageID!])
        try fixture.publish([message])
        #expect(doomed.waitForExit(timeout: .seconds(30)) != nil)
        #expect(doomed.process.terminationReason == .uncaughtSignal)
        #expect(try fixture.effects() == [message.messageID!: 1])
        #expect(try fixture.depth(fixture.doneQueue) == 0, "nothing was published before the crash")

        try fixture.startWorker()
        try waitUntil("the relayed probe.done", { try fixture.depth(fixture.doneQueue) }) { $0 >= 1 }
        try waitUntil("the redelivered message to be acked", { try fixture.depth(fixture.queue) }) { $0 == 0 }
        Thread.sleep(forTimeInterval: 1.5)
        let done = try fixture.drain(fixture.doneQueue)
        #expect(done.count == 1)
        #expect(done.first?.properties.headers["causation_id"]?.stringValue == message.messageID)
        #expect(try fixture.effects() == [message.messageID!: 1])
    }

    @Test(
        "killed after the confirmed publish and before the ack (fault injection): redelivered as a duplicate, no second effect"
    )
    func crashBeforeAck() throws {
        let fixture = try ProbeFixture()
        let message = ProbeFixture.Message.work(#"{"action":"ok","emit":true}"#)
        let doomed = try fixture.startWorker(["COMMERCE_FAULT_CRASH_BEFORE_ACK_BATCH": "1"])
        try fixture.publish([message])
        #expect(doomed.waitForExit(timeout: .seconds(30)) != nil)
        #expect(doomed.process.terminationReason == .uncaughtSignal)
        #expect(doomed.log.contains("fault injection: SIGKILL after the confirmed publish, before the ack"))
        #expect(try fixture.effects() == [message.messageID!: 1])
        try waitUntil("the event published before the crash", { try fixture.depth(fixture.doneQueue) }) { $0 == 1 }

        let survivor = try fixture.startWorker()
        try waitUntil("the redelivered message to be acked", { try fixture.depth(fixture.queue) }) { $0 == 0 }
        try waitUntil("the duplicate counted", { survivor.http("/metrics")?.1 ?? "" }) {
            $0.contains("commerce_messages_duplicate_total")
        }
        #expect(try fixture.effects() == [message.messageID!: 1])
        #expect(try fixture.depth(fixture.doneQueue) == 1, "the event was published once")
    }

    @Test("SIGTERM during a burst exits 0; every message is done once or still queued")
    func gracefulStop() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker(["CONSUMER_BATCH_SIZE": "16"])
        let count = 3_000
        let messages = (0..<count).map { _ in ProbeFixture.Message.work(#"{"action":"sleep","sleep_ms":1}"#) }
        try fixture.publish(messages)
        try waitUntil("some progress", { try fixture.effectRows() }) { $0 >= 100 }
        worker.terminate()
        #expect(worker.waitForExit(timeout: .seconds(60)) == 0)
        let effects = try fixture.effects()
        #expect(effects.values.allSatisfy { $0 == 1 })
        let queued = Int(try fixture.depth(fixture.queue))
        #expect(effects.count + queued == count, "done \(effects.count) + queued \(queued) != \(count)")
        #expect(effects.count < count, "the stop came too late to test anything")
        #expect(worker.log.contains("graceful shutdown"))

        try fixture.startWorker()
        try fixture.waitForEffects(count, timeout: .seconds(120))
        let after = try fixture.effects()
        #expect(after.count == count && after.values.allSatisfy { $0 == 1 })
    }

    @Test("a handler blocking for three heartbeat intervals keeps its connection and its message")
    func slowHandler() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker(["AMQP_HEARTBEAT": "1"])
        let message = ProbeFixture.Message.work(#"{"action":"sleep","sleep_ms":3500,"emit":true}"#)
        try fixture.publish([message])
        try fixture.waitForEffects(1, timeout: .seconds(30))
        try waitUntil("the probe.done event", { try fixture.depth(fixture.doneQueue) }) { $0 == 1 }
        #expect(try fixture.effects() == [message.messageID!: 1])
        let connects = worker.log.components(separatedBy: "connected to broker").count - 1
        #expect(connects == 1, "the worker reconnected:\n\(worker.log)")
    }

    @Test("/health is ready with both connections; /metrics counts handled messages")
    func healthAndMetrics() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker()
        let health = try #require(worker.http("/health"))
        #expect(health.0 == 200)
        #expect(health.1.contains("\"status\":\"ready\""))
        try fixture.publish((0..<5).map { _ in ProbeFixture.Message.work(#"{"action":"ok"}"#) })
        try fixture.waitForEffects(5)
        let metrics = try waitUntil("handled counter", { worker.http("/metrics")?.1 ?? "" }) {
            metricValue($0, "commerce_messages_handled_total") == 5
        }
        #expect(metrics.contains("commerce_outbox_backlog"))
        #expect(worker.http("/nowhere")?.0 == 404)
    }

    @Test("a queue that exists with other arguments is a clear error; the worker stays up and not ready")
    func conflictingQueue() throws {
        let fixture = try ProbeFixture()
        let channel = try fixture.amqp.openChannel()
        try fixture.amqp.declareQueue(channel: channel, name: fixture.queue, arguments: ["x-queue-type": "classic"])
        let port = WorkerProcess.freePort()
        let worker = try WorkerProcess(
            environment: [
                "AMQP_URL": TestServers.amqpURL, "DATABASE_URL": fixture.databaseURL, "QUEUE_NAME": fixture.queue,
                "EXCHANGE_NAME": fixture.exchange, "QUEUE_TYPE": "quorum", "HTTP_PORT": "\(port)",
            ], httpPort: port, name: "probe-conflict-\(fixture.suffix)")
        defer { worker.kill9() }
        let log = try waitUntil("the topology error in the log", { worker.log }) {
            $0.contains("queue '\(fixture.queue)' already exists with a different argument 'x-")
        }
        #expect(log.contains("PRECONDITION_FAILED"))
        #expect(worker.process.isRunning)
        let health = try waitUntil("/health", { worker.http("/health") }) { $0 != nil }
        #expect(health?.0 == 503)
    }

    @Test(
        "the exchange deleted under a running worker: its publish fails with 404, it reconnects, redeclares and delivers"
    )
    func missingExchange() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker()
        let channel = try fixture.amqp.openChannel()
        try fixture.amqp.deleteExchange(channel: channel, name: fixture.exchange)
        // Straight to the worker's queue: the exchange is gone, and the worker's event goes nowhere.
        let message = ProbeFixture.Message.work(#"{"action":"ok","emit":true}"#)
        try fixture.publish([message], toQueue: true)
        try fixture.waitForEffects(1)
        try waitUntil("the 404 in the log", { worker.log }) { $0.contains("404") }
        // The publishing connection is the one the 404 closed: it reconnects on its own.
        try waitUntil(
            "a second publishing connection",
            { worker.log.components(separatedBy: "publishing connection open").count - 1 }
        ) { $0 >= 2 }
        // The worker redeclared the exchange and its binding; the relay publishes the kept event.
        try fixture.amqp.bindQueue(
            channel: channel, queue: fixture.doneQueue, exchange: fixture.exchange, routingKey: "probe.done")
        try waitUntil("the relayed event", { try fixture.depth(fixture.doneQueue) }) { $0 == 1 }
        let next = ProbeFixture.Message.work(#"{"action":"ok"}"#)
        try fixture.publish([next])
        try fixture.waitForEffects(2)
        #expect(try fixture.effects() == [message.messageID!: 1, next.messageID!: 1])
        #expect(worker.process.isRunning)
    }

    @Test("an unroutable event stays in the outbox with its error and the worker carries on")
    func unroutable() throws {
        let fixture = try ProbeFixture()
        let channel = try fixture.amqp.openChannel()
        try fixture.amqp.deleteQueue(channel: channel, name: fixture.doneQueue)  // nobody hears probe.done
        let worker = try fixture.startWorker()
        let lost = ProbeFixture.Message.work(#"{"action":"ok","emit":true}"#)
        try fixture.publish([lost])
        try fixture.waitForEffects(1)
        try waitUntil("the unroutable error", { worker.log }) { $0.contains("NO_ROUTE") }
        // The worker carries on with the next message.
        let next = ProbeFixture.Message.work(#"{"action":"ok"}"#)
        try fixture.publish([next])
        try fixture.waitForEffects(2)
        // Once a queue is bound, the relay delivers the kept event.
        try fixture.amqp.declareQueue(channel: channel, name: fixture.doneQueue, arguments: ["x-queue-type": "quorum"])
        try fixture.amqp.bindQueue(
            channel: channel, queue: fixture.doneQueue, exchange: fixture.exchange, routingKey: "probe.done")
        try waitUntil("the relayed event", { try fixture.depth(fixture.doneQueue) }) { $0 == 1 }
    }
}

@Suite("Worker runtime housekeeping")
struct WorkerRuntimeHousekeepingTests {
    @Test("retention removes inbox rows past their age; published outbox rows are gone; latency is per message")
    func retention() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker([
            "INBOX_RETENTION_MS": "1", "RETENTION_INTERVAL_MS": "500",
        ])
        try fixture.publish((0..<20).map { _ in ProbeFixture.Message.work(#"{"action":"ok","emit":true}"#) })
        try fixture.waitForEffects(20)
        let database = try TestServers.postgres(url: fixture.databaseURL)
        try waitUntil(
            "empty inbox and outbox",
            {
                try database.query(
                    "select (select count(*) from runtime_inbox) + (select count(*) from runtime_outbox) as n"
                ).rows[0].int("n")
            }
        ) { $0 == 0 }
        let metrics = worker.http("/metrics")?.1 ?? ""
        #expect(metricValue(metrics, "commerce_retention_deleted_total") == 20)
        #expect(metricValue(metrics, "commerce_message_latency_seconds_count") == 20)
    }
}
