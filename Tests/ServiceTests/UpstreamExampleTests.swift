import AMQP
import CommerceTestKit
import Foundation
import Inventory
import LocalProcess
import Testing

/// The worked example of docs/upstream.md, `docs/examples/upstream.py`, run as an upstream team
/// would run it (a stock AMQP client, pika, in the project's `.venv`) against the whole fleet:
/// it must place its order and see it confirmed.
@Suite("Upstream example (docs/examples/upstream.py)")
struct UpstreamExampleTests {
    static let root = TestServers.repositoryRoot

    /// `.venv/bin/python`, failing the test (never skipping it) when it is missing or lacks pika.
    private func pythonWithPika() throws -> URL {
        let python = Self.root.appendingPathComponent(".venv/bin/python")
        let hint = "run `scripts/services.sh up`, which installs pika into .venv"
        try #require(
            FileManager.default.isExecutableFile(atPath: python.path), "no Python at \(python.path): \(hint)")
        let check = try ChildProcess(
            executable: python, arguments: ["-c", "import pika"], environment: ProcessInfo.processInfo.environment,
            workingDirectory: Self.root,
            logURL: FileManager.default.temporaryDirectory.appendingPathComponent("upstream-pika-check.log"))
        let status = check.waitForExit(timeout: .seconds(30))
        try #require(status == 0, "\(python.path) cannot import pika: \(hint)\n\(check.logTail())")
        return python
    }

    @Test("places an order with pika, confirms and mandatory, and sees it CONFIRMED on its own queue")
    func placesAndConfirms() throws {
        let python = try pythonWithPika()
        let (fixture, _) = try SagaDriver().startFleet(stock: [StockSeed(sku: "KB-001", quantity: 10)])
        let queue = "upstream-example-\(fixture.suffix)"
        defer {
            if let channel = try? fixture.amqp.openChannel() {
                _ = try? fixture.amqp.deleteQueue(channel: channel, name: queue)
            }
        }

        let script = Self.root.appendingPathComponent("docs/examples/upstream.py")
        let environment = ProcessInfo.processInfo.environment.merging([
            "AMQP_URL": TestServers.amqpURL, "EXCHANGE": fixture.exchange, "QUEUE": queue, "TIMEOUT_S": "50",
            "PYTHONUNBUFFERED": "1",
        ]) { $1 }
        let example = try ChildProcess(
            executable: python, arguments: [script.path, queue], environment: environment,
            workingDirectory: Self.root,
            logURL: FileManager.default.temporaryDirectory.appendingPathComponent(
                "upstream-example-\(fixture.suffix).log"))
        guard let status = example.waitForExit(timeout: .seconds(60)) else {
            example.kill()
            Issue.record("upstream.py still runs after 60 s:\n\(example.logTail())")
            return
        }
        let output = example.log
        #expect(example.terminationReason == .exit && status == 0, "upstream.py exited \(status):\n\(output)")
        #expect(output.contains("ORDER ") && output.contains(" CONFIRMED"), "no confirmed outcome:\n\(output)")

        // The order it printed is the one the fleet confirmed (the fixture's watch queue sees it too).
        let line = output.split(separator: "\n").first { $0.hasPrefix("ORDER ") }
        let orderID = try #require(line?.split(separator: " ").dropFirst().first.map(String.init), "\(output)")
        let events = try SagaDriver().terminalEvents(fixture, count: 1)
        #expect(events[orderID] != nil, "the watch queue saw \(events.keys.sorted()), not \(orderID)")
    }
}
