import AMQP
import CommerceTestKit
import FleetOperations
import Foundation
import Testing
import WorkerRuntime

/// FleetOperations' dead letters against a real broker: a message dead-lettered with the
/// runtime's headers is read back as a ``DeadLetter`` whose failure is named, and a
/// ``DeadLetterSession`` lists, replays and purges them as `commerce dlq` does.
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

    @Test("the report shapes of a dead letter: relative failure time, a body as text or base64, export lines")
    func reports() throws {
        let headers: AMQPTable = [
            DeadLetterHeader.errorClass: .string("permanent"), DeadLetterHeader.errorReason: .string("invalid_body"),
            DeadLetterHeader.attempts: .int(2), DeadLetterHeader.failedAt: .string("2026-12-03T10:00:00Z"),
        ]
        let text = DeadLetter(
            queue: "order-worker.dlq", deliveryTag: 1,
            properties: AMQPProperties(headers: headers, messageID: "m-1", type: "order.place"),
            body: Array(#"{"a":"b/c"}"#.utf8))
        let failed = try #require(text.failedAt)

        let report = DeadLetterReport(text, now: failed.addingTimeInterval(180))
        #expect(report.failedAgo == "3 min ago")
        #expect(report.failedAt == "2026-12-03T10:00:00Z")
        #expect(report.originalQueue == "order-worker")
        #expect(DeadLetterReport(text, now: failed.addingTimeInterval(2)).failedAgo == "just now")

        let details = DeadLetterDetails(text, now: failed)
        #expect(details.body == #"{"a":"b/c"}"# && details.bodyEncoding == "utf8")
        #expect(details.properties.lines.map(\.0) == ["message_id", "type"])
        let binary = DeadLetter(
            queue: "order-worker.dlq", deliveryTag: 2, properties: AMQPProperties(messageID: "m-2"),
            body: [0xFF, 0x00, 0x41])
        let shown = DeadLetterDetails(binary, now: failed)
        #expect(shown.body == "/wBB" && shown.bodyEncoding == "base64")

        let lines = String(decoding: try DeadLetterExportLine.jsonLines([text, binary]), as: UTF8.self)
        #expect(
            lines
                == #"{"body":"{\"a\":\"b/c\"}","body_encoding":"utf8","headers":{"#
                + #""x-attempts":2,"x-error-class":"permanent","x-error-reason":"invalid_body","x-failed-at":"2026-12-03T10:00:00Z"},"#
                + #""original_queue":"order-worker","properties":{"message_id":"m-1","type":"order.place"},"#
                + #""queue":"order-worker.dlq"}"# + "\n"
                + #"{"body":"/wBB","body_encoding":"base64","headers":{},"original_queue":"order-worker","#
                + #""properties":{"message_id":"m-2"},"queue":"order-worker.dlq"}"# + "\n")
    }

    @Test("a dead-letter session lists, replays one letter to its queue and purges the rest")
    func sessionListReplayPurge() async throws {
        try await offThePool {
            let amqp = try TestServers.amqp("dead-letter-session-test")
            defer { amqp.close() }
            let channel = try amqp.openChannel()
            try amqp.enableConfirms(channel: channel)
            let queue = TestServers.uniqueName("fleet-ops")
            let dlq = queue + ".dlq"
            try amqp.declareScratchQueues([queue, dlq], channel: channel, type: "quorum")
            defer { amqp.deleteScratchQueues([queue, dlq], channel: channel) }
            for id in ["m-1", "m-2", "m-3"] {
                let properties = AMQPProperties(
                    headers: [
                        DeadLetterHeader.errorClass: .string("permanent"),
                        DeadLetterHeader.errorReason: .string("invalid_body"),
                        DeadLetterHeader.originalQueue: .string(queue),
                    ], messageID: id, type: "order.place")
                try amqp.publish(
                    channel: channel, exchange: "", routingKey: dlq, properties: properties, body: Array(id.utf8))
            }
            _ = try amqp.waitForConfirms(channel: channel, timeout: .seconds(10))
            func ready(_ name: String) throws -> UInt32 {
                try amqp.queueStatus(channel: channel, name: name).messageCount
            }
            func session() throws -> DeadLetterSession {
                try DeadLetterSession(
                    connection: try TestServers.amqp("dead-letter-session-test"), address: "local broker")
            }

            // List: every letter, held until finish, then back in the queue.
            let listing = try session()
            let (all, missing) = try listing.readAll([dlq, queue + ".nowhere.dlq"], filter: DeadLetterFilter())
            #expect(all.map(\.messageID) == ["m-1", "m-2", "m-3"])
            #expect(missing == [queue + ".nowhere.dlq"])
            try listing.finish()
            try waitUntil("the listed letters back in \(dlq)", { try ready(dlq) }, until: { $0 == 3 })

            // Replay m-2: its copy goes to the original queue, the dead letter is removed.
            let replaying = try session()
            let (chosen, _) = try replaying.readMatching([dlq], filter: DeadLetterFilter(messageID: "m-2"), limit: nil)
            #expect(chosen.map(\.messageID) == ["m-2"])
            try replaying.returnAll(except: chosen)
            let copies = chosen.map { letter in
                let copy = letter.replayCopy()
                return (queue: letter.originalQueue, properties: copy.properties, body: copy.body)
            }
            #expect(try replaying.publish(copies) == [nil])
            try replaying.remove(chosen)
            try replaying.finish()
            try waitUntil("the copy in \(queue)", { try ready(queue) }, until: { $0 == 1 })
            try waitUntil("two letters left in \(dlq)", { try ready(dlq) }, until: { $0 == 2 })
            let replayed = try #require(try amqp.get(channel: channel, queue: queue, autoAck: true))
            #expect(replayed.properties.messageID == "m-2")
            #expect(replayed.properties.headers[DeadLetterHeader.errorReason] == nil)

            // Purge: whatever is left is removed.
            let purging = try session()
            let (left, _) = try purging.readAll([dlq], filter: DeadLetterFilter())
            #expect(Set(left.map(\.messageID)) == ["m-1", "m-3"])
            try purging.remove(left)
            try purging.finish()
            try waitUntil("\(dlq) empty", { try ready(dlq) }, until: { $0 == 0 })
        }
    }
}
