import CommerceTestKit
import Foundation
import Mongo
import Postgres
import Testing
import WorkerRuntime

/// The message journal (docs/architecture.md, "The message journal") as a real probe-worker
/// writes it: rows read back with the same code `commerce order show` uses.
@Suite("Message journal")
struct MessageJournalTests {
    private static let mongoURL = TestServers.mongoURL

    /// Messages of one saga: an applied one that emits, one that fails once then applies, one
    /// that fails for good, and a duplicate of the first.
    private func saga() -> (
        ok: ProbeFixture.Message, retried: ProbeFixture.Message, poison: ProbeFixture.Message,
        all: [ProbeFixture.Message], correlation: String
    ) {
        let correlation = "order-\(UUID().uuidString.prefix(8).lowercased())"
        var ok = ProbeFixture.Message.work(#"{"action":"ok","emit":true}"#)
        var retried = ProbeFixture.Message.work(#"{"action":"fail_transient","failures":1}"#)
        var poison = ProbeFixture.Message.work(#"{"action":"fail_permanent"}"#)
        ok.correlationID = correlation
        retried.correlationID = correlation
        poison.correlationID = correlation
        retried.headers = ["causation_id": .string(ok.messageID!)]
        return (ok, retried, poison, [ok, retried, poison, ok], correlation)
    }

    @Test("PostgreSQL: applied, emitted, retried and dead-lettered messages each have their row; duplicates none")
    func postgres() async throws {
        try await offThePool {
            let fixture = try ProbeFixture()
            let worker = try fixture.startWorker()
            let (ok, retried, poison, all, correlation) = saga()
            try fixture.publish(all)
            try fixture.waitForEffects(2)
            try waitUntil("the poison message in the DLQ", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }
            let database = try TestServers.postgres(url: fixture.databaseURL)
            // The failure rows are written after the copies are confirmed: wait for the last one.
            let entries = try waitUntil(
                "five journal rows", { try MessageJournal.entries(correlationID: correlation, on: database) }
            ) { $0.count >= 5 }
            #expect(entries.count == 5, "\(entries.map { "\($0.outcome) \($0.type)" })")

            let applied = entries.filter { $0.outcome == .applied }
            #expect(
                Set(applied.map(\.messageID)) == [ok.messageID!, retried.messageID!], "one row per message applied")
            let first = try #require(applied.first { $0.messageID == ok.messageID })
            #expect(first.direction == .incoming && first.type == "probe.work" && first.queue == fixture.queue)
            #expect(first.app == "probe-worker" && first.host == ProcessInfo.processInfo.hostName)
            #expect(first.pid == Int(worker.process.processIdentifier) && first.version == "dev")
            #expect(first.sender == "runtime-test" && first.attempts == 0 && first.causationID == nil)
            let received = try #require(first.receivedAt)
            #expect(received <= first.committedAt && first.committedAt.timeIntervalSince(received) < 30)

            let emitted = try #require(entries.first { $0.outcome == .emitted })
            #expect(emitted.direction == .outgoing && emitted.type == "probe.done")
            #expect(emitted.causationID == ok.messageID && emitted.correlationID == correlation)

            let retry = try #require(entries.first { $0.outcome == .retry })
            #expect(retry.messageID == retried.messageID && retry.attempts == 0 && retry.retryDelayMilliseconds == 300)
            #expect(retry.errorClass == "transient" && retry.causationID == ok.messageID)
            let second = try #require(applied.first { $0.messageID == retried.messageID })
            #expect(second.attempts == 1 && second.committedAt > retry.committedAt)

            let dead = try #require(entries.first { $0.outcome == .deadLettered })
            #expect(
                dead.messageID == poison.messageID && dead.errorClass == "permanent" && dead.reason == "probe_permanent"
            )
            #expect(dead.errorMessage == "failing on purpose" && dead.retryDelayMilliseconds == nil)
        }
    }

    @Test("journal.enabled false: the effects happen and the journal stays empty")
    func disabled() async throws {
        try await offThePool {
            let fixture = try ProbeFixture()
            try fixture.startWorker(["JOURNAL_ENABLED": "false"])
            let (_, _, _, all, correlation) = saga()
            try fixture.publish(all)
            try fixture.waitForEffects(2)
            try waitUntil("the poison message in the DLQ", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }
            let database = try TestServers.postgres(url: fixture.databaseURL)
            #expect(try MessageJournal.entries(correlationID: correlation, on: database).isEmpty)
            #expect(try database.query("select count(*) as n from message_journal").rows[0].int("n") == 0)
        }
    }

    @Test("MongoDB: the journal collection holds one document per message applied and per failed attempt")
    func mongo() async throws {
        try await offThePool {
            let fixture = try ProbeFixture()
            let name = "probe_\(fixture.suffix)"
            let client = try MongoClient(uri: Self.mongoURL, appName: "runtime-test")
            defer { try? client.dropDatabase(name) }
            let worker = try fixture.startWorker([
                "PROBE_STORE": "mongo", "DATABASE_URL": Self.mongoURL, "DATABASE_NAME": name,
            ])
            let (ok, retried, poison, all, correlation) = saga()
            try fixture.publish(all)
            let journal = client.collection(MessageJournal.collection, in: name)
            let entries = try waitUntil(
                "four journal documents", { try MessageJournal.entries(correlationID: correlation, in: journal) }
            ) { $0.count >= 4 }
            #expect(entries.count == 4, "\(entries.map { "\($0.outcome) \($0.messageID)" })")
            let applied = entries.filter { $0.outcome == .applied }
            #expect(Set(applied.map(\.messageID)) == [ok.messageID!, retried.messageID!])
            #expect(applied.allSatisfy { $0.pid == Int(worker.process.processIdentifier) && $0.queue == fixture.queue })
            #expect(applied.first { $0.messageID == retried.messageID }?.attempts == 1)
            #expect(entries.first { $0.outcome == .retry }?.messageID == retried.messageID)
            #expect(entries.first { $0.outcome == .deadLettered }?.messageID == poison.messageID)
        }
    }
}

extension MessageJournalTests {
    @Test("retention removes journal rows and documents past journal.retentionMs")
    func retention() async throws {
        try await offThePool {
            let settings = ["JOURNAL_RETENTION_MS": "1000", "RETENTION_INTERVAL_MS": "300"]
            let fixture = try ProbeFixture()
            try fixture.startWorker(settings)
            let mongoFixture = try ProbeFixture()
            let name = "probe_\(mongoFixture.suffix)"
            let client = try MongoClient(uri: Self.mongoURL, appName: "runtime-test")
            defer { try? client.dropDatabase(name) }
            try mongoFixture.startWorker(
                settings.merging(["PROBE_STORE": "mongo", "DATABASE_URL": Self.mongoURL, "DATABASE_NAME": name]) { $1 })
            let message = ProbeFixture.Message.work(#"{"action":"ok"}"#)
            try fixture.publish([message])
            try mongoFixture.publish([message])
            let database = try TestServers.postgres(url: fixture.databaseURL)
            let journal = client.collection(MessageJournal.collection, in: name)
            let rows = { try MessageJournal.entries(correlationID: message.correlationID, on: database).count }
            let documents = { try MessageJournal.entries(correlationID: message.correlationID, in: journal).count }
            try waitUntil("the row written", rows) { $0 == 1 }
            try waitUntil("the document written", documents) { $0 == 1 }
            try waitUntil("the row removed by retention", timeout: .seconds(20), rows) { $0 == 0 }
            try waitUntil("the document removed by retention", timeout: .seconds(20), documents) { $0 == 0 }
            #expect(try fixture.effects()[message.messageID!] == 1, "retention removes the journal, not the effects")
        }
    }
}
