import CommerceTestKit
import Foundation
import Testing

/// `commerce-lab bench` as an operator runs it, against the real servers: a tiny run of the fleet
/// (no references, to stay short) must place every order, see each end, pass the audit and
/// report every figure; bad arguments exit 64.
@Suite("commerce-lab bench")
struct BenchCommandTests {
    static let root = TestServers.repositoryRoot

    /// ``runCommerceLab(_:environment:)`` on a thread of its own: a bench run takes a minute, and blocking one of
    /// the two threads of the cooperative pool that long starves the tests running beside it.
    private func runCommerceOffPool(_ arguments: [String]) async throws -> CommerceRun {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try runCommerceLab(arguments) }) }.start()
        }
    }

    private func scratch() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(TestServers.uniqueName("bench-test"))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    @Test("a tiny run: every order ends confirmed, the audit passes, the figures and the picture are there")
    func tinyRun() async throws {
        let output = try scratch()
        defer { try? FileManager.default.removeItem(at: output) }
        let run = try await runCommerceOffPool([
            "bench", "--orders", "40", "--no-references", "--load-fraction", "0.5", "--rate-seconds", "2",
            "--config-directory", Self.root.appendingPathComponent("config").path,
            "--secantus-python", Self.root.appendingPathComponent(".venv/bin/python").path,
            "--output", output.path, "--settle", "30", "--json",
        ])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let report = try run.requiredJSON()
        let runs = try #require(report["fleet_runs"] as? [[String: Any]], "no fleet_runs in \(run.stdout)")
        // A failed run may report fewer runs: required, so the test fails instead of indexing past them.
        try #require(runs.map { $0["mode"] as? String } == ["flood", "rate"])
        for fleetRun in runs {
            let orders = try #require(fleetRun["orders"] as? Int)
            #expect(fleetRun["unfinished"] as? Int == 0)
            #expect(fleetRun["audit_clean"] as? Bool == true)
            #expect((fleetRun["problems"] as? [String])?.isEmpty == true, "\(fleetRun["problems"] ?? "")")
            #expect((fleetRun["outcomes"] as? [String: Int]) == ["confirmed": orders])
            #expect((fleetRun["orders_per_second"] as? Double ?? 0) > 0)
            #expect((fleetRun["saga_messages_per_second"] as? Double ?? 0) > 0)
            // Seven deliveries per confirmed order: place, placed, reserved ×2, succeeded, confirmed ×2;
            // the last order's sale and notification may trail its terminal event.
            #expect((fleetRun["handled_messages"] as? Int ?? 0) >= 5 * orders)
            let latency = try #require(fleetRun["latency"] as? [String: Any])
            #expect(latency["count"] as? Int == orders)
            for key in ["p50_ms", "p90_ms", "p99_ms", "max_ms"] {
                #expect((latency[key] as? Double ?? 0) > 0, "\(key)")
            }
            let batches = try #require(fleetRun["mean_batch_size"] as? [String: Double])
            #expect(Set(batches.keys) == ["order-worker", "stock-worker", "payment-worker", "notification-worker"])
            let cpu = try #require(fleetRun["cpu_seconds"] as? [String: Double])
            for party in [
                "order-worker", "stock-worker", "payment-worker", "notification-worker", "rabbitmq", "postgres",
                "mongodb", "bench",
            ] {
                #expect(cpu[party] != nil, "no CPU figure for \(party): \(cpu)")
            }
            #expect((fleetRun["exits"] as? [String])?.allSatisfy { $0.hasSuffix("exit 0") } == true)
            #expect(fleetRun["dead_letters"] as? Int == 0)
        }
        let flood = runs[0]["orders_per_second"] as? Double ?? 0
        let paced = runs[1]["target_rate"] as? Double ?? 0
        #expect(abs(paced - 0.5 * flood) < 0.01 * flood, "the fixed rate is half the flood's: \(paced) vs \(flood)")
        let summary = try #require(report["summary"] as? [String: Any])
        #expect(summary["fleet_flood"] != nil)
        #expect(summary["fleet_rate"] != nil)
        let json = try String(contentsOf: output.appendingPathComponent("bench.json"), encoding: .utf8)
        #expect(json.contains("\"fleet_runs\""))
        let svg = try String(contentsOf: output.appendingPathComponent("bench.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("Latency percentiles") && svg.contains("<polyline"))
    }

    @Test(
        "bad arguments exit 64 with a message",
        arguments: [
            ["--orders", "0"], ["--gateway", "paypal"], ["--queue-type", "lazy"], ["--batch-size", "500"],
            ["--repeat", "0"], ["--load-fraction", "2"], ["--rate", "-5"], ["--gateway-env", "NO_EQUALS"],
            ["--no-such-option"],
        ])
    func badArguments(_ arguments: [String]) throws {
        let run = try runCommerceLab(["bench"] + arguments)
        #expect(run.status == 64, "\(arguments): exit \(run.status), stderr \(run.stderr)")
        #expect(run.stderr.contains("Error"), "\(arguments): \(run.stderr)")
    }

    @Test("--gateway http without a payment-gateway executable fails at once, saying what to build")
    func httpGatewayNeedsTheExecutable() throws {
        let bin = try scratch()
        defer { try? FileManager.default.removeItem(at: bin) }
        for worker in ["order-worker", "stock-worker", "payment-worker", "notification-worker"] {
            try FileManager.default.createSymbolicLink(
                at: bin.appendingPathComponent(worker), withDestinationURL: CommerceBinary.url(worker))
        }
        let run = try runCommerceLab([
            "bench", "--gateway", "http", "--no-references", "--bin-path", bin.path, "--config-directory",
            Self.root.appendingPathComponent("config").path,
        ])
        #expect(run.status == 1)
        #expect(run.stderr.contains("payment-gateway"), "\(run.stderr)")
    }
}
