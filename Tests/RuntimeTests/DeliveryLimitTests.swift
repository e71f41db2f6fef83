import CommerceTestKit
import Foundation
import Testing

/// The quorum delivery limit against requeues that are not the message's fault
/// (docs/architecture.md, "Failures"): RabbitMQ counts every return of a message, an outage's
/// requeue included, so the limit is set far above what outages reach.
@Suite("Delivery limit")
struct DeliveryLimitTests {
    @Test(
        "a message requeued by 25 dependency outages (more than the old limit of 20) is processed once, not dead-lettered"
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
}
