import ArgumentParser
import CommandLineSupport
import CommerceDomain
import Foundation
import Logging
import Payments
import PaymentsHTTP
import Resilience

/// `commerce-lab bench-gateway`: charges/s of the payment-worker's HTTP adapter against a running
/// payment-gateway, with a fixed number of calls in flight (docs/payment-gateway.md, "Benchmark").
/// A measurement tool, not a test: it asserts nothing about speed and only fails on errors.
struct BenchGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-gateway",
        abstract: "Charges through the HTTP adapter with N calls in flight and reports charges per second.")

    @Option(help: "The gateway's base URL.") var url = "http://127.0.0.1:9180"
    @Option(help: "The API key (default: env PAYMENT_HTTP_API_KEY or PAYMENT_HTTP_API_KEY_FILE, else the local key).")
    var apiKey: String?

    private var resolvedAPIKey: String {
        Setting.resolve(apiKey, variable: "PAYMENT_HTTP_API_KEY", default: ProcessorOptions.localAPIKey)
    }
    @Option(help: "How many charges.") var charges = 2_000
    @Option(help: "How many calls in flight at once (and pooled connections).") var concurrency = 64
    @Option(help: "The payment token of every charge.") var token = "tok_approve"
    @Option(help: "Per-attempt timeout, milliseconds.") var timeoutMs = 5_000

    func validate() throws {
        guard charges > 0, (1...1024).contains(concurrency), timeoutMs > 0 else {
            throw ValidationError("--charges and --timeout-ms must be positive, --concurrency 1 to 1024")
        }
    }

    func run() async throws {
        let gateway = HTTPPaymentGateway(
            configuration: HTTPPaymentGateway.Configuration(
                baseURL: url, apiKey: resolvedAPIKey, timeout: .milliseconds(timeoutMs), concurrency: concurrency),
            logger: Logger(label: "commerce-lab bench-gateway"))
        let run = UUID().uuidString.prefix(8).lowercased()
        let total = charges
        let token = token
        let inFlight = concurrency
        let started = ContinuousClock.now
        let (latencies, failures) = await withTaskGroup(of: Duration?.self) { group in
            var latencies: [Duration] = []
            var failures = 0
            var next = 0
            func add() {
                let index = next
                next += 1
                group.addTask {
                    let orderID = "bench-\(run)-\(index)"
                    let request = ChargeRequest(
                        orderID: orderID, amount: 10_000, currency: .krw, paymentToken: token,
                        idempotencyKey: ChargeRequest.idempotencyKey(orderID: orderID))
                    let start = ContinuousClock.now
                    guard (try? await gateway.charge(request)) != nil else { return nil }
                    return ContinuousClock.now - start
                }
            }
            for _ in 0..<min(inFlight, total) { add() }
            while let result = await group.next() {
                if let result { latencies.append(result) } else { failures += 1 }
                if next < total { add() }
            }
            return (latencies, failures)
        }
        let elapsed = ContinuousClock.now - started
        try await gateway.shutdown()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> String {
            guard !sorted.isEmpty else { return "-" }
            let value = sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
            return String(
                format: "%.1f ms", Double(value.components.attoseconds) / 1e15 + Double(value.components.seconds) * 1e3)
        }
        print(
            "\(total) charges (\(token)), \(inFlight) in flight: \(String(format: "%.2f", seconds)) s, "
                + "\(String(format: "%.0f", Double(latencies.count) / seconds)) charges/s; "
                + "latency p50 \(percentile(0.5)), p99 \(percentile(0.99)), max \(percentile(1)); failed \(failures)")
        if failures > 0 { throw ExitCode.failure }
    }
}
