import CommerceTestKit
import Foundation
import Testing

/// Reading a dead letter hands it back to its queue with a requeue, which a quorum queue counts as
/// a delivery; RabbitMQ 4 gives a quorum queue without a delivery limit one of 20. The runtime
/// declares dead-letter queues with a limit no reading reaches (`Topology.deadLetterDeliveryLimit`).
@Suite("commerce dlq: reading never drops a letter")
struct DLQDeliveryLimitTests {
    @Test("a dead letter shown 50 times by `commerce dlq show` is still there, once")
    func inspectedFiftyTimes() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        let message = ProbeFixture.Message.work(#"{"action":"fail_permanent"}"#)
        let worker = try fixture.startWorker()
        try fixture.publish([message])
        try waitUntil("the dead letter", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }
        worker.kill9()
        let id = try #require(message.messageID)
        for round in 1...50 {
            let show = try runCommerce([
                "dlq", "show", id, "--amqp-url", TestServers.amqpURL, "--queue", fixture.queue, "--json",
            ])
            try #require(show.status == 0, "round \(round): \(show.stderr)")
        }
        #expect(try fixture.depth(fixture.queue + ".dlq") == 1)
        let letters = try fixture.drain(fixture.queue + ".dlq")
        #expect(letters.compactMap(\.properties.messageID) == [id])
        // The broker counted every reading: the limit, not luck, kept the letter.
        #expect((letters.first?.properties.headers["x-delivery-count"]?.intValue ?? 0) >= 50)
    }
}
