import AMQP
import CommerceTestKit
import Foundation
import Glibc
import Testing
import WorkerRuntime

/// `commerce dlq` against a real broker and a real probe-worker: the binary is run as a process,
/// with the fixture's queue, and its `--json` output is checked.
@Suite("commerce dlq")
struct DLQCommandTests {
    typealias Run = CommerceRun

    private func commerce(_ arguments: [String]) throws -> Run { try runCommerce(arguments) }

    private func dlq(_ fixture: ProbeFixture, _ arguments: [String], json: Bool = true) throws -> Run {
        var all = ["dlq"] + arguments + ["--amqp-url", TestServers.amqpURL, "--queue", fixture.queue]
        if json { all.append("--json") }
        return try commerce(all)
    }

    private func work(_ json: String) -> ProbeFixture.Message { .work(json) }

    /// A dead letter made by hand, as the runtime would have made it, straight into `<queue>.dlq`.
    private func publishDeadLetter(
        _ fixture: ProbeFixture, id: String, body: String, headers extra: AMQPTable? = nil
    ) throws {
        try publishDeadLetters(fixture, [(id, body, extra)])
    }

    /// Dead letters made by hand (see ``publishDeadLetter(_:id:body:headers:)``), confirmed
    /// together in windows of 500. `headers` `nil`: the runtime's for a permanent failure.
    private func publishDeadLetters(
        _ fixture: ProbeFixture, _ letters: [(id: String, body: String, headers: AMQPTable?)]
    ) throws {
        for start in stride(from: 0, to: letters.count, by: 500) {
            for (id, body, extra) in letters[start..<min(start + 500, letters.count)] {
                let headers: AMQPTable =
                    extra ?? [
                        DeadLetterHeader.errorClass: "permanent", DeadLetterHeader.errorReason: "probe_permanent",
                        DeadLetterHeader.errorMessage: "failing on purpose", DeadLetterHeader.attempts: 3,
                        DeadLetterHeader.originalQueue: .string(fixture.queue),
                        DeadLetterHeader.originalRoutingKey: "probe.work",
                        DeadLetterHeader.failedAt: .string(Date().formatted(.iso8601)),
                        DeadLetterHeader.failedBy: "probe-worker@test (pid 1)",
                    ]
                let properties = AMQPProperties(
                    contentType: "application/json", headers: headers, deliveryMode: 2,
                    correlationID: "order-\(id.prefix(8))", messageID: id,
                    timestamp: UInt64(Date().timeIntervalSince1970), type: "probe.work", appID: "runtime-test")
                try fixture.amqp.publish(
                    channel: fixture.channel, exchange: "", routingKey: fixture.queue + ".dlq", properties: properties,
                    body: Array(body.utf8))
            }
            let outcomes = try fixture.amqp.waitForConfirms(channel: fixture.channel, timeout: .seconds(30))
            #expect(outcomes.values.allSatisfy { $0 == .confirmed })
        }
    }

    private func letters(_ run: Run) -> [[String: Any]] { run.json["dead_letters"] as? [[String: Any]] ?? [] }

    @Test("list, summary, show and export read dead letters without removing them; purge removes only matches")
    func readAndPurge() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        let permanent = [work(#"{"action":"fail_permanent"}"#), work(#"{"action":"fail_permanent"}"#)]
        let malformed = work("not json {")
        try fixture.publish(permanent + [malformed, work(#"{"action":"ok"}"#)])
        try fixture.startWorker()
        try waitUntil("three dead letters", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 3 }
        // One the broker made itself (a quorum queue's delivery limit): x-death, no x-error-*.
        let brokerID = UUID().uuidString.lowercased()
        let death: AMQPTable = [
            "reason": "delivery_limit", "queue": .string(fixture.queue), "count": 1,
            "time": .timestamp(UInt64(Date().timeIntervalSince1970)), "exchange": .string(fixture.exchange),
        ]
        try publishDeadLetter(
            fixture, id: brokerID, body: #"{"action":"ok"}"#, headers: ["x-death": .array([.table(death)])])

        // list
        let list = try dlq(fixture, ["list"])
        #expect(list.status == 0, "\(list.stderr)")
        let listed = letters(list)
        #expect(listed.count == 4)
        let reasons = Dictionary(grouping: listed, by: { $0["reason"] as? String ?? "" }).mapValues(\.count)
        #expect(reasons == ["probe_permanent": 2, "malformed_json": 1, "broker:delivery_limit": 1])
        let brokerLetter = listed.first { $0["message_id"] as? String == brokerID }
        #expect(brokerLetter?["error_class"] as? String == "broker")
        #expect(brokerLetter?["original_queue"] as? String == fixture.queue)
        let permanentLetter = listed.first { $0["message_id"] as? String == permanent[0].messageID }
        #expect(permanentLetter?["error_class"] as? String == "permanent")
        #expect(permanentLetter?["attempts"] as? Int == 1)
        #expect((permanentLetter?["failed_by"] as? String)?.contains("pid") == true)
        let text = try dlq(fixture, ["list"], json: false)
        #expect(text.status == 0)
        #expect(text.stdout.contains("probe_permanent") && text.stdout.contains("just now"), "\(text.stdout)")
        let again = letters(try dlq(fixture, ["list"]))
        #expect(again.map { $0["message_id"] as? String } == listed.map { $0["message_id"] as? String }, "same order")

        // filters
        #expect(letters(try dlq(fixture, ["list", "--error-class", "permanent"])).count == 3)
        #expect(letters(try dlq(fixture, ["list", "--error-class", "malformed_json"])).count == 1)
        #expect(letters(try dlq(fixture, ["list", "--since", "1h"])).count == 4)
        #expect(letters(try dlq(fixture, ["list", "--since", "2099-01-01T00:00:00Z"])).isEmpty)
        #expect(letters(try dlq(fixture, ["list", "--limit", "2"])).count == 2)
        let badSince = try dlq(fixture, ["list", "--since", "yesterday"])
        #expect(badSince.status == 64, "\(badSince.stderr)")

        // summary
        let summary = try dlq(fixture, ["summary"])
        #expect(summary.status == 0, "\(summary.stderr)")
        let groups = summary.json["groups"] as? [[String: Any]] ?? []
        #expect(groups.count == 3)
        #expect(groups.first?["reason"] as? String == "probe_permanent")
        #expect(groups.first?["count"] as? Int == 2)

        // show
        let id = try #require(permanent[0].messageID)
        let show = try dlq(fixture, ["show", id], json: false)
        #expect(show.status == 0, "\(show.stderr)")
        for header in ["x-error-reason: probe_permanent", "x-error-class: permanent", "x-attempts: 1", "x-failed-by"] {
            #expect(show.stdout.contains(header), "\(show.stdout)")
        }
        #expect(show.stdout.contains("\"action\" : \"fail_permanent\""), "the body pretty-printed: \(show.stdout)")
        let showJSON = try dlq(fixture, ["show", id])
        let shown = (showJSON.json["messages"] as? [[String: Any]])?.first
        #expect((shown?["headers"] as? [String: Any])?["x-original-queue"] as? String == fixture.queue)
        let malformedShow = try dlq(fixture, ["show", try #require(malformed.messageID)], json: false)
        #expect(malformedShow.stdout.contains("not json {"))

        // an unknown id
        let unknown = try dlq(fixture, ["show", "no-such-id"], json: false)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("Error: no dead letter with message id 'no-such-id'"), "\(unknown.stderr)")
        #expect(try dlq(fixture, ["replay", "no-such-id"]).status == 1)

        // export
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dlq-\(fixture.suffix).jsonl")
        defer { try? FileManager.default.removeItem(at: file) }
        let export = try dlq(fixture, ["export", file.path])
        #expect(export.status == 0, "\(export.stderr)")
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(first?["queue"] as? String == fixture.queue + ".dlq")
        #expect(first?["body_encoding"] as? String == "utf8")
        #expect((first?["properties"] as? [String: Any])?["message_id"] != nil)
        #expect(try fixture.depth(fixture.queue + ".dlq") == 4, "reading removes nothing")

        // purge
        let refused = try dlq(fixture, ["purge", "--error-class", "malformed_json"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("--yes"), "\(refused.stderr)")
        #expect(try fixture.depth(fixture.queue + ".dlq") == 4)
        let purge = try dlq(fixture, ["purge", "--error-class", "malformed_json", "--yes"])
        #expect(purge.status == 0, "\(purge.stderr)")
        #expect(purge.json["removed"] as? Int == 1)
        let remaining = try fixture.drain(fixture.queue + ".dlq").compactMap(\.properties.messageID)
        #expect(Set(remaining) == Set(permanent.compactMap(\.messageID) + [brokerID]))
    }

    @Test("replay never sends a dead letter refused for its sender: it would go out as the operator's")
    func replayRefusesForbiddenSender() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        let forged = UUID().uuidString.lowercased()
        let fixable = UUID().uuidString.lowercased()
        let refusedHeaders: AMQPTable = [
            DeadLetterHeader.errorClass: "permanent", DeadLetterHeader.errorReason: "forbidden_sender",
            DeadLetterHeader.errorMessage: "payment.succeeded from broker user 'stock-worker' is refused",
            DeadLetterHeader.attempts: 1, DeadLetterHeader.originalQueue: .string(fixture.queue),
        ]
        try publishDeadLetters(
            fixture, [(forged, #"{"action":"ok"}"#, refusedHeaders), (fixable, #"{"action":"ok"}"#, nil)])

        // Text: with --json a failing replay prints its report and then the failure.
        let run = try dlq(fixture, ["replay", "--all"], json: false)
        #expect(run.status == 1, "not everything was replayed: \(run.stdout) \(run.stderr)")
        #expect(run.stdout.contains("replayed 1, failed 1"), "\(run.stdout)")
        let refusedLine = run.stdout.split(separator: "\n").first { $0.contains(forged) }
        #expect(
            refusedLine?.hasPrefix("✗") == true && refusedLine?.contains("forbidden_sender") == true, "\(run.stdout)")
        let left = try fixture.drain(fixture.queue + ".dlq").compactMap(\.properties.messageID)
        #expect(left == [forged], "the refused dead letter stays where it was")
        let replayed = try fixture.drain(fixture.queue).compactMap(\.properties.messageID)
        #expect(replayed == [fixable])
    }

    @Test("replay puts a dead letter back as a fresh message; a repeated replay takes effect once")
    func replay() throws {
        let fixture = try ProbeFixture()
        try fixture.declareTopology()
        try fixture.startWorker()
        let fixable = UUID().uuidString.lowercased()
        try publishDeadLetter(fixture, id: fixable, body: #"{"action":"ok"}"#)

        let first = try dlq(fixture, ["replay", fixable])
        #expect(first.status == 0, "\(first.stdout) \(first.stderr)")
        #expect(first.json["replayed"] as? Int == 1)
        try waitUntil("the replayed message's effect", { try fixture.effects()[fixable] ?? 0 }) { $0 == 1 }
        #expect(try fixture.effectAttempts(fixable) == [0], "attempts start again")
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)

        // The same dead letter again, as a replay interrupted between confirm and ack leaves it.
        try publishDeadLetter(fixture, id: fixable, body: #"{"action":"ok"}"#)
        let second = try dlq(fixture, ["replay", fixable])
        #expect(second.status == 0, "\(second.stderr)")
        try waitUntil("the second copy consumed", { try fixture.depth(fixture.queue) }) { $0 == 0 }
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try fixture.effects()[fixable] == 1, "the inbox drops the duplicate")
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)

        // --body fixes a message that failed for good.
        let broken = work(#"{"action":"fail_permanent"}"#)
        try fixture.publish([broken])
        try waitUntil("the broken message in the DLQ", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dlq-body-\(fixture.suffix).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("not json".utf8).write(to: file)
        let id = try #require(broken.messageID)
        #expect(try dlq(fixture, ["replay", id, "--body", file.path]).status == 64)
        try Data(#"{"action":"ok"}"#.utf8).write(to: file)
        let fixed = try dlq(fixture, ["replay", id, "--body", file.path])
        #expect(fixed.status == 0, "\(fixed.stderr)")
        try waitUntil("the fixed message's effect", { try fixture.effects()[id] ?? 0 }) { $0 == 1 }
        #expect(try fixture.depth(fixture.queue + ".dlq") == 0)
    }

    @Test(
        "summary groups 1,000 dead letters of two causes into two lines, whatever ids and numbers their messages hold")
    func summaryOfAThousand() async throws {
        try await offThePool {
            let fixture = try ProbeFixture()
            try fixture.declareTopology()
            func failure(_ reason: String, _ message: String) -> AMQPTable {
                [
                    DeadLetterHeader.errorClass: "transient", DeadLetterHeader.errorReason: .string(reason),
                    DeadLetterHeader.errorMessage: .string(message), DeadLetterHeader.attempts: 5,
                    DeadLetterHeader.originalQueue: .string(fixture.queue),
                    DeadLetterHeader.originalRoutingKey: "probe.work",
                    DeadLetterHeader.failedAt: .string(Date().formatted(.iso8601)),
                    DeadLetterHeader.failedBy: "probe-worker@test (pid 1)",
                ]
            }
            let letters = (0..<1000).map { index -> (id: String, body: String, headers: AMQPTable?) in
                let id = UUID().uuidString.lowercased()
                let headers =
                    index % 5 < 3
                    ? failure("gateway_timeout", "gateway timed out after \(1000 + index) ms charging order '\(id)'")
                    : failure("database_error", "lock timeout on row \(index) of stock (sqlstate 55P03), order \(id)")
                return (id, #"{"action":"ok"}"#, headers)
            }
            try publishDeadLetters(fixture, letters)
            try waitUntil("1,000 dead letters", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1000 }

            let summary = try dlq(fixture, ["summary"])
            #expect(summary.status == 0, "\(summary.stderr)")
            #expect(summary.json["total"] as? Int == 1000)
            let groups = summary.json["groups"] as? [[String: Any]] ?? []
            #expect(groups.count == 2, "\(groups)")
            #expect(groups.map { $0["reason"] as? String } == ["gateway_timeout", "database_error"])
            #expect(groups.map { $0["count"] as? Int } == [600, 400])
            let text = try dlq(fixture, ["summary"], json: false)
            let lines = text.stdout.split(separator: "\n").filter { $0.contains("×") }
            #expect(lines.count == 2, "\(text.stdout)")
            #expect(lines.first?.hasPrefix("600×") == true && lines.last?.hasPrefix("400×") == true, "\(text.stdout)")
            // A summary returns only once the queue shows every letter it read again, so the
            // next command (a purge, a replay) sees them all: no wait here.
            #expect(try fixture.depth(fixture.queue + ".dlq") == 1000, "a summary removes nothing")
        }
    }

    @Test(
        "a replay --all SIGKILLed part-way loses nothing; a second replay completes it, each message taking effect once"
    )
    func replayKilledMidway() async throws {
        try await offThePool {
            let fixture = try ProbeFixture()
            try fixture.declareTopology()
            let count = 3000
            let ids = (0..<count).map { _ in UUID().uuidString.lowercased() }
            try publishDeadLetters(fixture, ids.map { ($0, #"{"action":"ok"}"#, nil) })
            try waitUntil("the dead letters", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == UInt32(count) }

            // No worker yet: the copies wait in the queue, so the test sees the replay's progress.
            let process = Process()
            process.executableURL = CommerceBinary.url("commerce")
            process.arguments = ["dlq", "replay", "--all", "--queue", fixture.queue, "--amqp-url", TestServers.amqpURL]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            try waitUntil(
                "the first replayed copies", timeout: .seconds(60), poll: .milliseconds(2),
                { try fixture.depth(fixture.queue) }
            ) {
                $0 > 0
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "the replay was still running when it was killed")
            // The killed session held every dead letter unacknowledged (a replay reads them all
            // before it publishes). The broker returns them once it sees the connection gone, in
            // several steps, and no AMQP reply says when it is done: wait until the DLQ's count has
            // been the same, and above zero, for a second. (A replay killed after removing every dead
            // letter would leave none, and fail the test: that would not be part-way.)
            let deadLetterQueue = fixture.queue + ".dlq"
            var history: [UInt32] = []
            try waitUntil(
                "the killed session's dead letters back in \(deadLetterQueue)", poll: .milliseconds(100),
                { () throws -> [UInt32] in
                    history = Array((history + [try fixture.depth(deadLetterQueue)]).suffix(10))
                    return history
                }
            ) { (counts: [UInt32]) -> Bool in
                counts.count == 10 && counts[0] > 0 && counts.allSatisfy { $0 == counts[0] }
            }
            let (replayed, left) = (try fixture.depth(fixture.queue), try fixture.depth(deadLetterQueue))
            #expect(Int(replayed + left) >= count, "nothing lost: \(replayed) in the queue, \(left) in the DLQ")
            #expect(replayed > 0 && replayed < UInt32(count), "killed part-way: \(replayed) replayed, \(left) left")
            #expect(left > 0, "killed part-way: \(left) dead letters left")

            let second = try dlq(fixture, ["replay", "--all"])
            #expect(second.status == 0, "\(second.stderr)")
            #expect(second.json["replayed"] as? Int == Int(left))
            // The broker's counts of a quorum queue trail its acks by a moment.
            try waitUntil("\(deadLetterQueue) empty", { try fixture.depth(deadLetterQueue) }) { $0 == 0 }

            try fixture.startWorker()
            try fixture.waitForEffects(count)
            try waitUntil("the queue drained", { try fixture.depth(fixture.queue) }) { $0 == 0 }
            let effects = try fixture.effects()
            #expect(Set(effects.keys) == Set(ids), "every dead letter took effect")
            #expect(effects.values.allSatisfy { $0 == 1 }, "each once: \(effects.filter { $0.value != 1 })")
        }
    }
}
