import AMQP
import Chaos
import CommerceMessages
import CommerceTestKit
import Foundation
import Inventory
import Testing

/// Hostile input against the whole fleet: the corpus `commerce-lab chaos` publishes (docs/chaos.md),
/// to every worker queue. Each malformed message ends in its worker's dead-letter queue with a
/// reason, the well-formed but hostile orders end in a terminal state, no worker dies, and the
/// audit holds.
@Suite("Hostile input")
struct HostileInputTests {
    @Test("every worker dead-letters malformed messages with a reason, survives, and the audit holds")
    func hostileCorpus() throws {
        let saga = SagaDriver()
        let (fixture, _) = try saga.startFleet(stock: [StockSeed(sku: "KB-001", quantity: 5)])
        let workers = ["order-worker", "stock-worker", "payment-worker", "notification-worker"]
        let queues = workers.map { "\($0)-\(fixture.suffix)" }
        let corpus = HostileMessages.corpus(
            queues: queues, orderQueue: "order-worker-\(fixture.suffix)", maximumBodySize: 256 * 1024)
        let channel = try fixture.amqp.openChannel()
        try fixture.amqp.enableConfirms(channel: channel)
        for message in corpus {
            try fixture.amqp.publish(
                channel: channel, exchange: "", routingKey: message.queue, properties: message.properties,
                body: message.body)
        }
        let outcomes = try fixture.amqp.waitForConfirms(channel: channel, timeout: .seconds(30))
        #expect(outcomes.values.allSatisfy { $0 == .confirmed })

        // Each malformed message in its own worker's dead-letter queue, with a reason.
        for (worker, queue) in zip(workers, queues) {
            let expected = corpus.filter { $0.queue == queue && $0.expectDeadLetter }
            try waitUntil(
                "\(expected.count) dead letters for \(worker)", timeout: .seconds(60),
                {
                    try fixture.depth("\(queue).dlq")
                }
            ) { $0 >= expected.count }
            let letters = try fixture.deadLetters(of: worker)
            // A body over consumer.maxBodyBytes is refused unread and dead-lettered by the broker:
            // its reason is x-death's `rejected` (docs/security.md, "Size limits").
            let reasons = letters.map {
                $0.properties.headers["x-error-reason"]?.stringValue
                    ?? $0.properties.headers["x-first-death-reason"]?.stringValue.map { "broker:\($0)" } ?? "<none>"
            }
            #expect(letters.count == expected.count, "\(worker): \(reasons)")
            #expect(!reasons.contains("<none>"), "\(worker): every dead letter says why: \(reasons)")
            #expect(reasons.filter { $0 == "broker:rejected" }.count == 1, "\(worker): the oversized body: \(reasons)")
        }
        // The hostile but well-formed orders: each ends terminal (rejected, most of them).
        let orders = Set(corpus.filter { !$0.expectDeadLetter }.compactMap(\.properties.correlationID))
        let events = try saga.terminalEvents(fixture, count: orders.count)
        #expect(Set(events.keys) == orders)
        for worker in fixture.workers {
            #expect(worker.process.isRunning, "a worker exited:\n\(worker.log.suffix(2_000))")
        }
        #expect(try saga.auditSettled(fixture).isClean)
    }
}
