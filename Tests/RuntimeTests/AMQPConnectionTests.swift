import AMQP
import CommerceTestKit
import Foundation
import Testing

@Suite("AMQP wrapper against a real RabbitMQ")
struct AMQPConnectionTests {
    @Test("publish with confirms, consume with manual ack; properties and headers survive")
    func roundTrip() throws {
        let connection = try TestServers.amqp()
        let control = try connection.openChannel()
        let queue = TestServers.uniqueName("test-roundtrip")
        try connection.declareQueue(channel: control, name: queue, arguments: ["x-queue-type": "quorum"])
        defer { _ = try? connection.deleteQueue(channel: control, name: queue) }

        let publisher = try connection.openChannel()
        try connection.enableConfirms(channel: publisher)
        let bodies = ["first", "second — ünïcødé", "third \"quoted\""]
        var sequences: [UInt64] = []
        for (index, body) in bodies.enumerated() {
            let properties = AMQPProperties(
                contentType: "application/json", headers: ["causation_id": .string("cause-\(index)"), "x-attempts": 2],
                deliveryMode: 2, correlationID: "order-\(index)", messageID: "message-\(index)",
                timestamp: 1_700_000_000, type: "order.placed", appID: "test")
            sequences.append(
                try connection.publish(
                    channel: publisher, exchange: "", routingKey: queue, properties: properties, body: Array(body.utf8))
            )
        }
        let outcomes = try connection.waitForConfirms(channel: publisher, timeout: .seconds(10))
        #expect(sequences == [1, 2, 3])
        #expect(sequences.allSatisfy { outcomes[$0] == .confirmed })

        let consumer = try connection.openChannel()
        try connection.setPrefetch(channel: consumer, count: 10)
        let tag = try connection.consume(channel: consumer, queue: queue)
        #expect(!tag.isEmpty)
        var deliveries: [AMQPDelivery] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while deliveries.count < 3, ContinuousClock.now < deadline {
            if case .delivery(let delivery) = try connection.nextEvent(timeout: .seconds(1)) {
                deliveries.append(delivery)
            }
        }
        try #require(deliveries.count == 3)
        #expect(deliveries.map { String(decoding: $0.body, as: UTF8.self) } == bodies)
        let first = deliveries[0].properties
        #expect(first.messageID == "message-0")
        #expect(first.correlationID == "order-0")
        #expect(first.type == "order.placed")
        #expect(first.deliveryMode == 2)
        #expect(first.timestamp == 1_700_000_000)
        #expect(first.headers["causation_id"] == .string("cause-0"))
        #expect(first.headers["x-attempts"] == .int(2))
        try connection.ack(channel: consumer, deliveryTag: deliveries[2].deliveryTag, multiple: true)
        try connection.cancel(channel: consumer, consumerTag: tag)

        // Acknowledged messages are gone for good.
        let status = try connection.queueStatus(channel: control, name: queue)
        #expect(status.messageCount == 0)
    }

    @Test("nack without requeue dead-letters through x-dead-letter-exchange, with x-death")
    func nackDeadLetters() throws {
        let connection = try TestServers.amqp()
        let channel = try connection.openChannel()
        let queue = TestServers.uniqueName("test-dlx")
        let deadLetters = queue + ".dlq"
        try connection.declareQueue(channel: channel, name: deadLetters)
        try connection.declareQueue(
            channel: channel, name: queue,
            arguments: ["x-dead-letter-exchange": "", "x-dead-letter-routing-key": .string(deadLetters)])
        defer {
            _ = try? connection.deleteQueue(channel: channel, name: queue)
            _ = try? connection.deleteQueue(channel: channel, name: deadLetters)
        }
        try connection.enableConfirms(channel: channel)
        try connection.publish(
            channel: channel, exchange: "", routingKey: queue,
            properties: AMQPProperties(messageID: "poison-1"), body: Array("poison".utf8))
        _ = try connection.waitForConfirms(channel: channel, timeout: .seconds(10))

        let delivery = try #require(try connection.get(channel: channel, queue: queue))
        try connection.nack(channel: channel, deliveryTag: delivery.deliveryTag, requeue: false)

        let dead = try waitUntil(
            "the dead letter", { try connection.get(channel: channel, queue: deadLetters, autoAck: true) }
        ) {
            $0 != nil
        }
        let letter = try #require(dead)
        #expect(String(decoding: letter.body, as: UTF8.self) == "poison")
        #expect(letter.properties.messageID == "poison-1")
        guard case .array(let deaths) = letter.properties.headers["x-death"], case .table(let death) = deaths.first
        else {
            Issue.record("no x-death header: \(letter.properties.headers)")
            return
        }
        #expect(death["reason"] == .string("rejected"))
        #expect(death["queue"] == .string(queue))
    }

    @Test("a conflicting redeclare is a typed 406 and the connection lives on")
    func preconditionFailed() throws {
        let connection = try TestServers.amqp()
        var channel = try connection.openChannel()
        let queue = TestServers.uniqueName("test-406")
        try connection.declareQueue(channel: channel, name: queue, arguments: ["x-queue-type": "classic"])
        defer { _ = try? connection.deleteQueue(channel: channel, name: queue) }

        let error = #expect(throws: AMQPError.self) {
            try connection.declareQueue(channel: channel, name: queue, arguments: ["x-queue-type": "quorum"])
        }
        #expect(error?.code == .channelClosed)
        #expect(error?.replyCode == 406)
        #expect(error?.message.contains("PRECONDITION_FAILED") == true)
        #expect(error?.message.contains("x-queue-type") == true)
        #expect(connection.isOpen)
        #expect(!connection.isChannelOpen(channel))

        channel = try connection.openChannel()
        let status = try connection.declareQueue(channel: channel, name: queue, arguments: ["x-queue-type": "classic"])
        #expect(status.name == queue)
    }

    @Test("a publish to a missing exchange is a 404 from the confirm wait")
    func missingExchange() throws {
        let connection = try TestServers.amqp()
        let channel = try connection.openChannel()
        try connection.enableConfirms(channel: channel)
        try connection.publish(
            channel: channel, exchange: TestServers.uniqueName("no-such-exchange"), routingKey: "x",
            properties: AMQPProperties(messageID: "m"), body: [1])
        let error = #expect(throws: AMQPError.self) {
            try connection.waitForConfirms(channel: channel, timeout: .seconds(10))
        }
        #expect(error?.replyCode == 404)
        #expect(connection.isOpen)
        _ = try connection.openChannel()
    }

    @Test("an unroutable mandatory publish comes back as returned (312 NO_ROUTE)")
    func unroutable() throws {
        let connection = try TestServers.amqp()
        let channel = try connection.openChannel()
        let exchange = TestServers.uniqueName("test-unroutable")
        try connection.declareExchange(
            channel: channel, name: exchange, type: "topic", durable: false, autoDelete: true)
        defer { _ = try? connection.deleteExchange(channel: channel, name: exchange) }
        try connection.enableConfirms(channel: channel)
        let routed = try connection.publish(
            channel: channel, exchange: exchange, routingKey: "nobody.listens", mandatory: true,
            properties: AMQPProperties(messageID: "lost-1"), body: [1, 2, 3])
        let outcomes = try connection.waitForConfirms(channel: channel, timeout: .seconds(10))
        guard case .returned(let code, let text) = outcomes[routed] else {
            Issue.record("expected a return, got \(String(describing: outcomes[routed]))")
            return
        }
        #expect(code == 312)
        #expect(text == "NO_ROUTE")
    }

    @Test("a closed port is a connectionFailed error naming the endpoint")
    func connectionRefused() throws {
        let configuration = try AMQPConfiguration(urls: "amqp://guest:secret@127.0.0.1:1/%2F")
        let error = #expect(throws: AMQPError.self) { try AMQPConnection(configuration: configuration) }
        #expect(error?.code == .connectionFailed)
        #expect(error?.description.contains("127.0.0.1:1") == true)
        #expect(error?.description.contains("secret") == false)
    }

    @Test("wrong credentials are a loginFailed error")
    func badLogin() throws {
        let configuration = try AMQPConfiguration(urls: "amqp://commerce:wrong-password@127.0.0.1:5672/%2F")
        let error = #expect(throws: AMQPError.self) { try AMQPConnection(configuration: configuration) }
        #expect(error?.code == .loginFailed)
    }
}
