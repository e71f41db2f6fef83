import AMQP
import CommerceTestKit
import Foundation
import Testing
import WorkerRuntime

/// The quorum delivery limit against requeues that are not the message's fault
/// (docs/architecture.md, "Failures"): RabbitMQ counts every return of a message, an outage's
/// requeue included, so the limit is set far above what outages reach.
@Suite("Delivery limit")
struct DeliveryLimitTests {
    @Test(
        "a message requeued by 25 dependency outages (more than 20) is processed once, not dead-lettered"
    )
    func outagesDoNotDeadLetter() throws {
        let fixture = try ProbeFixture()
        let outages = 25
        let worker = try fixture.startWorker([
            "PROBE_PREPARE_MS": "1", "PROBE_OUTAGES_PER_MESSAGE": "\(outages)",
        ])
        let message = ProbeFixture.Message.work(#"{"action":"ok"}"#)
        try fixture.publish([message])
        try fixture.waitForEffects(1, timeout: .seconds(120))
        #expect(try fixture.effects() == [message.messageID!: 1])
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
        // Every outage paused the worker once: the message really came back that often.
        let pauses = worker.log.components(separatedBy: "probe dependency unavailable; pausing consumption").count - 1
        #expect(pauses == outages, "pauses seen in the log: \(pauses)")
        #expect(try fixture.effectAttempts(message.messageID!) == [0], "no attempt counted for an outage")
    }

    @Test("queues created with an earlier version's delivery limits are kept: the worker starts on them and says so")
    func earlierLimitsKept() throws {
        let fixture = try ProbeFixture()
        // As an earlier version declared them: the main queue with a limit of 20, the dead-letter
        // queue with none.
        var earlier = fixture.topology
        earlier.deliveryLimit = 20
        let channel = try fixture.amqp.openChannel()
        for (name, arguments) in earlier.queues.prefix(2) {
            var arguments = arguments
            if name == earlier.deadLetterQueue { arguments["x-delivery-limit"] = nil }
            try fixture.amqp.declareQueue(channel: channel, name: name, arguments: arguments)
        }
        let kept = try fixture.topology.declare(on: fixture.amqp, channel: try fixture.amqp.openChannel())
        #expect(kept.map(\.queue) == [fixture.topology.deadLetterQueue, fixture.queue])
        #expect(kept.allSatisfy { $0.argument == "x-delivery-limit" })
        let worker = try fixture.startWorker()
        try fixture.publish([.work(#"{"action":"ok"}"#)])
        try fixture.waitForEffects(1)
        #expect(worker.log.contains("queue kept with the delivery limit it was created with"))
    }

    @Test(
        "queues created without a quorum initial group size are kept when the worker asks for one, and it starts on them"
    )
    func earlierGroupSizeKept() throws {
        let fixture = try ProbeFixture()
        let channel = try fixture.amqp.openChannel()
        for (name, arguments) in fixture.topology.queues {
            try fixture.amqp.declareQueue(channel: channel, name: name, arguments: arguments)
        }
        var sized = fixture.topology
        sized.quorumInitialGroupSize = 3
        let kept = try sized.declare(on: fixture.amqp, channel: try fixture.amqp.openChannel())
        #expect(kept.map(\.queue) == sized.queues.map(\.name))
        #expect(kept.allSatisfy { $0.argument == "x-quorum-initial-group-size" })
        let worker = try fixture.startWorker(["QUEUE_QUORUM_INITIAL_GROUP_SIZE": "3"])
        try fixture.publish([.work(#"{"action":"ok"}"#)])
        try fixture.waitForEffects(1)
        #expect(worker.log.contains("queue kept with the quorum initial group size it was created with"))
    }

    @Test("a queue declared with a quorum initial group size of 3 is created on one node, and declared again unchanged")
    func groupSizeOnOneNode() throws {
        let fixture = try ProbeFixture()
        var sized = fixture.topology
        sized.quorumInitialGroupSize = 3
        #expect(try sized.declare(on: fixture.amqp, channel: try fixture.amqp.openChannel()).isEmpty)
        // Declared again with the same size: nothing kept, nothing refused.
        #expect(try sized.declare(on: fixture.amqp, channel: try fixture.amqp.openChannel()).isEmpty)
    }
}
