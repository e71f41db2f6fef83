import AMQP
import ArgumentParser
import CommandLineSupport
import Foundation
import Lab
import Mongo
import Postgres
import WorkerRuntime

/// `commerce-lab chaos`: the fault-injection run (docs/chaos.md). A fleet of its own takes orders at
/// a steady rate while worker copies are killed and restarted, every server is restarted once,
/// the broker raises a memory alarm, copies crash at the two moments that matter for exactly-once
/// effects, hostile messages reach every queue and old events come back. Then the fleet drains,
/// the audit runs, and one line says what was placed, ended, lost, doubled and dead-lettered.
struct ChaosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Inject faults into a running fleet under load, then audit: nothing may be lost or doubled.",
        discussion: """
            Loopback only: it restarts the local RabbitMQ, PostgreSQL and MongoDB-protocol server (through \
            scripts/services.sh) and refuses servers on other hosts. Faults, in order, spread over the \
            publishing time: \(ChaosRun.faultNames.joined(separator: ", ")). Some orders pay with a slow \
            charge (\(ChaosRun.racingToken)) and are cancelled by their customer while it is in flight. \
            Exit 0 only if every order placed ended, no effect happened twice, every dead letter is one of \
            the hostile messages (and each of those is one), no process died but those killed on purpose, \
            every racing cancel ended CANCELLED, and the audit is clean, its reconciliation with the card \
            processor's books included (not checked with --gateway sandbox); exit 1 otherwise. Writes \
            chaos.json and the processes' logs to --output.
            """)

    @OptionGroup var broker: BrokerOptions

    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "PostgreSQL URL of a database to create the fleet's databases from (env DATABASE_URL).", valueName: "url"))
    var databaseURL: String?

    @Option(help: ArgumentHelp("The MongoDB server (env MONGO_URL); restarted by the run.", valueName: "url"))
    var mongoURL: String?

    @Option(help: ArgumentHelp("Orders to place.", valueName: "n"))
    var orders = 1500

    @Option(help: ArgumentHelp("Orders per second.", valueName: "r"))
    var rate = 30.0

    @Option(help: ArgumentHelp("Processes of every worker.", valueName: "k"))
    var copies = 2

    @Option(
        help: ArgumentHelp(
            "The card processor: http (a payment-gateway process, restarted by the run) or sandbox.", valueName: "kind")
    )
    var gateway = "http"

    @Option(help: ArgumentHelp("Units of each of the 100 SKUs (a few orders run out of stock).", valueName: "n"))
    var stockPerSku = 40

    @Option(help: ArgumentHelp("Seconds after the last order for every order to end.", valueName: "s"))
    var drainTimeout = 300

    @Option(help: ArgumentHelp("Seed of the run's random choices (default: from the clock).", valueName: "n"))
    var seed: UInt64?

    @Option(
        name: .customLong("skip"),
        help: ArgumentHelp(
            "A fault to leave out (repeatable): \(Set(ChaosRun.faultNames).sorted().joined(separator: ", ")).",
            valueName: "fault"))
    var skip: [String] = []

    @Option(help: ArgumentHelp("The folder with the executables (default: this commerce's own).", valueName: "path"))
    var binPath: String?

    @Option(help: ArgumentHelp("The repository's config folder.", valueName: "path"))
    var configDirectory = "config"

    @Option(help: ArgumentHelp("scripts/services.sh, which restarts the servers.", valueName: "path"))
    var servicesScript = "scripts/services.sh"

    @Option(
        help: ArgumentHelp("Where chaos.json and the logs go (default chaos-results/<UTC time>).", valueName: "path"))
    var output: String?

    @Flag(help: "Keep the run's queues, databases and MongoDB data for inspection (`commerce dlq` on them).")
    var keepStores = false

    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard orders > 0 else { throw ValidationError("--orders must be positive, not \(orders)") }
        guard rate > 0, rate.isFinite, rate <= 2_000 else {
            throw ValidationError("--rate must be in (0, 2000], not \(rate)")
        }
        guard (1...8).contains(copies) else { throw ValidationError("--copies must be 1 to 8, not \(copies)") }
        guard ["sandbox", "http"].contains(gateway) else {
            throw ValidationError("--gateway must be http or sandbox, not '\(gateway)'")
        }
        guard stockPerSku > 0 else { throw ValidationError("--stock-per-sku must be positive") }
        guard drainTimeout > 0 else { throw ValidationError("--drain-timeout must be positive") }
        for fault in skip where !ChaosRun.faultNames.contains(fault) {
            throw ValidationError(
                "--skip: unknown fault '\(fault)' (known: \(Set(ChaosRun.faultNames).sorted().joined(separator: ", ")))"
            )
        }
        let urls = [
            ("the broker", broker.resolvedURL),
            (
                "PostgreSQL",
                Setting.resolve(databaseURL, variable: "DATABASE_URL", default: Setting.defaultDatabaseURL)
            ),
            (
                "MongoDB",
                Setting.resolve(mongoURL, variable: "MONGO_URL", default: MongoClient.Configuration.defaultURI)
            ),
        ]
        for (name, url) in urls where !Self.isLoopback(url) {
            throw ValidationError("chaos runs on loopback only: \(name) is at \(Setting.redacted(url))")
        }
    }

    /// Whether every host of `url` (a comma-separated list for a cluster) is this machine.
    static func isLoopback(_ url: String) -> Bool {
        url.split(separator: ",").allSatisfy { part in
            guard let host = URLComponents(string: String(part))?.host?.lowercased() else { return false }
            return ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host)
        }
    }

    func run() throws {
        let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let bin =
            binPath.map { URL(fileURLWithPath: $0, relativeTo: here).standardizedFileURL }
            ?? BenchHost.executableDirectory()
        let needed = FleetCatalog.workers.map(\.name) + (gateway == "http" ? ["payment-gateway"] : [])
        for executable in needed
        where !FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent(executable).path) {
            throw CommandFailure(
                "no \(executable) in \(bin.path): build the fleet (`swift build -c release`) or pass --bin-path")
        }
        let configuration = URL(fileURLWithPath: configDirectory, relativeTo: here).standardizedFileURL
        guard FileManager.default.fileExists(atPath: configuration.appendingPathComponent("pricing.json").path) else {
            throw CommandFailure(
                "no pricing.json in \(configuration.path): run from the repository root or pass --config-directory")
        }
        let script = URL(fileURLWithPath: servicesScript, relativeTo: here).standardizedFileURL
        guard FileManager.default.fileExists(atPath: script.path) else {
            throw CommandFailure("no \(script.path): run from the repository root or pass --services-script")
        }
        let timestamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let outputFolder = URL(fileURLWithPath: output ?? "chaos-results/\(timestamp)", relativeTo: here)
            .standardizedFileURL
        let logs = outputFolder.appendingPathComponent("logs")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)

        let adminURL = Setting.resolve(databaseURL, variable: "DATABASE_URL", default: Setting.defaultDatabaseURL)
        let mongo = Setting.resolve(mongoURL, variable: "MONGO_URL", default: MongoClient.Configuration.defaultURI)
        let amqp: AMQPConnection
        let admin: PostgresConnection
        do {
            amqp = try AMQPConnection(configuration: broker.configuration(connectionName: "commerce-lab chaos"))
            admin = try PostgresConnection(url: adminURL, applicationName: "commerce-chaos")
        } catch {
            throw CommandFailure("\(CommandFailure.describe(error)); \(CommandFailure.startServersHint)")
        }
        defer {
            admin.close()
            amqp.close()
        }
        var publishing = try broker.configuration(connectionName: "commerce-lab chaos orders")
        publishing.rpcTimeout = .seconds(30)
        let seed = self.seed ?? UInt64(Date().timeIntervalSince1970 * 1000)
        let run = ChaosRun(
            settings: ChaosRun.Settings(
                fleet: SagaFleet.Settings(
                    amqpURL: broker.resolvedURL, adminDatabaseURL: adminURL, binDirectory: bin,
                    configDirectory: configuration, logDirectory: logs, mongo: .existing(url: mongo),
                    gatewayAPIKey: "sk_test_commerce_chaos", gatewayEnvironment: [:], stockPerSKU: stockPerSku),
                shape: SagaFleet.Shape(
                    copies: copies, prefetch: 128, batchSize: 64, queueType: "quorum", gateway: gateway),
                orders: orders, rate: rate, drainTimeout: .seconds(drainTimeout), seed: seed, servicesScript: script,
                amqp: publishing, keepStores: keepStores, skip: Set(skip)),
            amqp: amqp, admin: admin, log: progress)
        progress(
            "chaos: \(orders) orders at \(rate)/s, \(copies) copies of every worker, gateway \(gateway), seed \(seed); "
                + "output in \(outputFolder.path)")
        let report = try run.run()
        try OutputOptions.encodeJSON(report).write(to: outputFolder.appendingPathComponent("chaos.json"))
        if outputOptions.json {
            outputOptions.printJSON(report)
        } else {
            printReport(report)
        }
        if !report.passed { throw ExitCode(1) }
    }

    private func progress(_ message: String) {
        let line = "\(Self.clock.string(from: Date()))  \(message)"
        // With --json, standard output carries the document only.
        // Written at once, not buffered: a long run is watched as it goes, even through a pipe.
        (outputOptions.json ? FileHandle.standardError : FileHandle.standardOutput).write(Data((line + "\n").utf8))
    }

    private static let clock: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter
    }()

    private func printReport(_ report: ChaosReport) {
        print("")
        print("faults:")
        for fault in report.faults {
            print(
                String(
                    format: "  %6.1f s  %5.1f s  %@ %-20@ %@", fault.at, fault.seconds, fault.ok ? "ok" : "✗ ",
                    fault.name as NSString, fault.detail as NSString))
        }
        print(
            "orders by status: "
                + report.statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        print(
            "customer cancels racing a slow charge: \(report.racingCancels) ("
                + report.racingCancelOutcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ") + ")"
                + (report.racingCancelCharges.isEmpty
                    ? ""
                    : "; at the processor: "
                        + report.racingCancelCharges.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                        .joined(separator: ", ")))
        print("reconciliation with the card processor: \(report.reconciliation)")
        func list(_ title: String, _ items: [String]) {
            guard !items.isEmpty else { return }
            print("\(title) (\(items.count)):")
            for item in items.prefix(20) { print("  \(item)") }
            if items.count > 20 { print("  … and \(items.count - 20) more (chaos.json has them all)") }
        }
        list("lost orders", report.lost)
        list("duplicated effects", report.duplicatedEffects)
        list("unexpected dead letters", report.unexpectedDeadLetters)
        list("hostile messages not dead-lettered", report.missingHostileDeadLetters)
        list("processes that died unasked", report.unplannedExits)
        list("audit violations", report.auditViolations)
        print("")
        print(report.line)
    }
}
