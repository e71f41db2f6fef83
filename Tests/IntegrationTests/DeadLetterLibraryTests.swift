import AMQP
import FleetOperations
import Foundation
import Testing
import WorkerRuntime

/// The dead-letter values of FleetOperations against a real broker: a message dead-lettered with
/// the runtime's headers is read back as a ``DeadLetter`` whose failure is named, a filter picks
/// it, and its replay copy goes without the failure headers.
@Suite("FleetOperations: dead letters")
struct DeadLetterLibraryTests {
    @Test("a dead letter read from a queue names its failure; its replay copy drops the failure headers")
    func deadLetterFromTheBroker() async throws {
        try await offThePool {
            let amqp = try TestServers.amqp("dead-letter-library-test")
            defer { amqp.close() }
            let channel = try amqp.openChannel()
            try amqp.enableConfirms(channel: channel)
            let queue = TestServers.uniqueName("fleet-ops") + ".dlq"
            try amqp.declareQueue(channel: channel, name: queue, arguments: ["x-queue-type": "quorum"])
            defer { _ = try? amqp.deleteQueue(channel: channel, name: queue) }
            let properties = AMQPProperties(
                headers: [
                    DeadLetterHeader.errorClass: .string("permanent"),
                    DeadLetterHeader.errorReason: .string("unknown_sku"),
                    DeadLetterHeader.errorMessage: .string("order 1234 wants 'ZZ-404'"),
                    DeadLetterHeader.attempts: .int(3),
                    DeadLetterHeader.failedAt: .string("2026-12-03T10:00:00.250Z"),
                ], messageID: "m-1", type: "order.placed")
            try amqp.publish(
                channel: channel, exchange: "", routingKey: queue, properties: properties, body: Array("{}".utf8))
            _ = try amqp.waitForConfirms(channel: channel, timeout: .seconds(10))

            let delivery = try #require(try amqp.get(channel: channel, queue: queue, autoAck: true))
            let letter = DeadLetter(
                queue: queue, deliveryTag: delivery.deliveryTag, properties: delivery.properties, body: delivery.body)
            #expect(letter.errorClass == "permanent")
            #expect(letter.reason == "unknown_sku")
            #expect(letter.attempts == 3)
            #expect(letter.originalQueue == String(queue.dropLast(4)))
            #expect(letter.failedAt == DeadLetter.parseDate("2026-12-03T10:00:00.250Z"))
            #expect(ErrorMessageNormaliser.normalise(letter.message) == "order <n> wants '<value>'")

            #expect(DeadLetterFilter(errorClass: "unknown_sku", type: "order.placed").matches(letter))
            #expect(!DeadLetterFilter(messageID: "m-2").matches(letter))

            let copy = letter.replayCopy()
            #expect(copy.properties.messageID == "m-1")
            #expect(copy.properties.headers[DeadLetterHeader.errorReason] == nil)
            #expect(copy.properties.headers[DeadLetterHeader.attempts] == nil)
        }
    }
}
