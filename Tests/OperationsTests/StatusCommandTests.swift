import AMQP
import CommerceTestKit
import Foundation
import Testing

/// `commerce status` against a real broker and a real probe-worker: the binary is run as a
/// process, with the fixture's queue and the worker's endpoint, and its `--json` output is checked.
@Suite("commerce status")
struct StatusCommandTests {
    typealias Run = CommerceRun

    private func commerce(_ arguments: [String]) throws -> Run { try runCommerce(arguments) }

    @Test("reports the queue's consumers and dead letters and the worker's health and counters")
    func queueAndWorker() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker()
        let good = (0..<3).map { _ in ProbeFixture.Message.work(#"{"action":"ok"}"#) }
        try fixture.publish(good + [.work(#"{"action":"fail_permanent"}"#)])
        try fixture.waitForEffects(3)
        try waitUntil("one dead letter", { try fixture.depth(fixture.queue + ".dlq") }) { $0 == 1 }

        let arguments = [
            "status", "--amqp-url", TestServers.amqpURL, "--queue", fixture.queue, "--worker",
            "http://127.0.0.1:\(worker.httpPort)", "--retry-delays-ms", "300,600", "--interval", "0.5",
        ]
        let run = try commerce(arguments + ["--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let queues = run.json["queues"] as? [[String: Any]] ?? []
        #expect(queues.count == 1, "\(run.stdout)")
        let queue = try #require(queues.first)
        #expect(queue["name"] as? String == fixture.queue)
        #expect(queue["state"] as? String == "present")
        #expect(queue["consumers"] as? Int == 1, "\(queue)")
        #expect(queue["ready"] as? Int == 0, "\(queue)")
        #expect((queue["dead_letter_queue"] as? [String: Any])?["ready"] as? Int == 1, "\(queue)")
        let retries = queue["retry_queues"] as? [[String: Any]] ?? []
        #expect(
            retries.map { $0["name"] as? String } == ["\(fixture.queue).retry.300ms", "\(fixture.queue).retry.600ms"])
        #expect(queue["handled_per_second"] is Double || queue["handled_per_second"] is Int, "\(queue)")

        let workers = run.json["workers"] as? [[String: Any]] ?? []
        #expect(workers.count == 1, "\(run.stdout)")
        let report = try #require(workers.first)
        #expect(report["url"] as? String == "http://127.0.0.1:\(worker.httpPort)")
        #expect(report["reachable"] as? Bool == true)
        #expect(report["ready"] as? Bool == true, "\(report)")
        #expect(report["handled"] as? Int == 3, "\(report)")
        // Who the copy is, from its `commerce_worker_info`.
        #expect(report["pid"] as? Int == Int(worker.process.processIdentifier), "\(report)")
        #expect(report["host"] as? String == ProcessInfo.processInfo.hostName, "\(report)")
        #expect(report["version"] as? String == "dev", "\(report)")
        #expect(report["dead_lettered"] as? Int == 1, "\(report)")
        #expect(report["queues"] as? [String] == [fixture.queue], "\(report)")
        #expect((report["mean_batch_size"] as? Double ?? 0) >= 1, "\(report)")

        // The text form: both tables.
        let text = try commerce(arguments)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains(fixture.queue) && text.stdout.contains("ready"), "\(text.stdout)")

        // Bad usage exits 64.
        for bad in ["0", "-1", "soon"] {
            let refused = try commerce(["status", "--amqp-url", TestServers.amqpURL, "--interval", bad])
            #expect(refused.status == 64, "--interval \(bad): \(refused.stderr)")
        }
        let badWorker = try commerce(["status", "--worker", "127.0.0.1:9191"])
        #expect(badWorker.status == 64, "\(badWorker.stderr)")
    }
}
