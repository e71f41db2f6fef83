import CommerceTestKit
import Foundation
import Mongo
import Testing

/// The runtime's MongoDB path (the notification worker's): one document per message, `_id` =
/// message id, so redeliveries and duplicates take effect once.
@Suite("Worker runtime with a MongoDB document store")
struct DocumentWorkerTests {
    @Test("a burst with duplicates, a poison message and a transient failure: every message recorded once")
    func documents() throws {
        let fixture = try ProbeFixture()
        let database = "probe_\(fixture.suffix)"
        let mongoURL = TestServers.mongoURL
        let client = try MongoClient(uri: mongoURL, appName: "runtime-test")
        defer { try? client.dropDatabase(database) }
        let collection = client.collection("probe_effects", in: database)
        let worker = try fixture.startWorker([
            "PROBE_STORE": "mongo", "DATABASE_URL": mongoURL, "DATABASE_NAME": database,
        ])

        let count = 500
        var messages = (0..<count).map { _ in ProbeFixture.Message.work(#"{"action":"ok"}"#) }
        let duplicate = messages[10]
        let retried = ProbeFixture.Message.work(#"{"action":"fail_transient","failures":2}"#)
        let poison = ProbeFixture.Message.work("{poison")
        messages += [duplicate, retried, poison]
        try fixture.publish(messages)
        try fixture.publish([duplicate])  // surely in a later batch too

        try waitUntil("\(count + 1) documents", timeout: .seconds(60), { try collection.countDocuments() }) {
            $0 >= count + 1
        }
        try waitUntil("the queue to drain", { try fixture.depth(fixture.queue) }) { $0 == 0 }
        try waitUntil("the poison message in the DLQ", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }
        #expect(try collection.countDocuments() == count + 1)
        let record = try #require(try collection.findOne(["_id": .string(retried.messageID!)]))
        #expect(record["attempts"] == .int64(2))
        let letters = try fixture.drain(fixture.queue + ".dlq")
        #expect(letters.first?.properties.headers["x-error-reason"]?.stringValue == "malformed_json")
        let metrics = worker.http("/metrics")?.1 ?? ""
        #expect(metricValue(metrics, "commerce_messages_duplicate_total") ?? 0 >= 2)
    }
}
