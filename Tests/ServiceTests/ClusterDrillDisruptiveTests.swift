import AMQP
import CommerceMessages
import CommerceTestKit
import Foundation
import Glibc
import Inventory
import Mongo
import Testing
import WorkerRuntime

/// The whole saga on the local cluster of docs/cluster.md under a steady flow of orders, through
/// four drills, each ending with every order ended once and the audit clean (the card
/// processor's books included): copies of every worker going 1 → 4 → 1, the loss of the node
/// that leads the worker queues, a partition of the node the workers are connected to, and the
/// loss of the PostgreSQL primary with its standby promoted. Each drill prints a line of
/// figures (`cluster drill figures: …`): orders per second before, during and after the fault,
/// the longest gap between terminal events, p50, p99.
///
/// Run by `scripts/cluster_check.sh --drills`, never by the main test run (scripts/test.sh
/// leaves it out by name): it needs root, the cluster up and the test servers' URLs pointing at
/// it (`COMMERCE_TEST_AMQP_URL` naming rabbit3 alone, the node no drill touches, so that the
/// test's own connection survives them; `COMMERCE_TEST_POSTGRES_URL` naming both PostgreSQL
/// hosts with `target_session_attrs=read-write`). Without them it fails and says so, rather
/// than pass having checked nothing. `COMMERCE_CLUSTER_DRILL_LONG=1` runs the long version
/// (docs/scaling.md): longer windows, a 30 s partition, a higher rate.
@Suite("Disruptive: cluster drills (scripts/cluster_check.sh --drills)", .serialized)
struct ClusterDrillDisruptiveTests {
    private let saga = SagaDriver()
    private let workerNames = ["order-worker", "stock-worker", "payment-worker", "notification-worker"]

    /// How long each part of a drill lasts: the CI version, or the long one.
    private struct Timing {
        var rate: Double
        var window: Double
        var leaderDown: Double
        var partition: Double
        var scaledUp: Double

        static let ci = Timing(rate: 8, window: 5, leaderDown: 8, partition: 15, scaledUp: 8)
        static let long = Timing(rate: 15, window: 20, leaderDown: 20, partition: 30, scaledUp: 30)
    }

    private var net: String { ProcessInfo.processInfo.environment["COMMERCE_CLUSTER_NET"] ?? "10.77.0" }

    private func address(of node: String) -> String {
        ["rabbit1": "\(net).11", "rabbit2": "\(net).12", "rabbit3": "\(net).13"][node] ?? node
    }

    private func brokerURL(_ node: String) -> String { "amqp://commerce:commerce@\(address(of: node)):5672/%2F" }

    @Test(
        "quorum queues with 3 members; copies 1 → 4 → 1, the queues' leader stopped, the workers' node partitioned, the database primary lost and its standby promoted, orders flowing throughout: every order ends once, audit clean, nothing dead-lettered"
    )
    func drills() throws {
        try requireCluster()
        let timing = ProcessInfo.processInfo.environment["COMMERCE_CLUSTER_DRILL_LONG"] == "1" ? Timing.long : .ci
        // The workers list rabbit2 first and keep to the listed order, so they all start there;
        // their queues are declared beforehand from rabbit1, which therefore leads them
        // (RabbitMQ places a quorum queue's leader on the declaring client's node): stopping
        // the leader does not drop the workers' connections, and partitioning their node does
        // not take the leaders.
        let workerBroker = ["rabbit2", "rabbit1", "rabbit3"].map(brokerURL).joined(separator: ",")
        let settings: [String: String] = [
            "AMQP_URL": workerBroker, "AMQP_HEARTBEAT": "5", "AMQP_ENDPOINT_ORDER": "listed",
            "QUEUE_QUORUM_INITIAL_GROUP_SIZE": "3",
        ]
        let extra = Dictionary(uniqueKeysWithValues: workerNames.map { ($0, settings) })
        var topologies: [Topology] = []
        let (fixture, fleetSettings) = try saga.startFleet(
            stock: [StockSeed(sku: "KB-001", quantity: 1_000_000)], extra: extra
        ) { fixture in
            let connection = try AMQPConnection(
                configuration: AMQPConfiguration(urls: brokerURL("rabbit1"), connectionName: "cluster-drill-declare"))
            defer { connection.close() }
            for worker in workerNames {
                let topology = Topology(
                    exchange: fixture.exchange, queue: fixture.queue(of: worker), bindings: [],
                    retryDelays: [.milliseconds(300), .milliseconds(600)], quorumInitialGroupSize: 3)
                try topology.declare(on: connection, channel: try connection.openChannel())
                topologies.append(topology)
            }
        }
        defer { try? MongoClient(uri: TestServers.mongoURL).dropDatabase(fixture.mongoDatabase) }

        // Every worker queue, retry queue and dead-letter queue has a replica on each node.
        let queues = try clusterQueues()
        for name in topologies.flatMap({ $0.queues.map(\.name) }) {
            #expect(queues[name]?.members.count == 3, "\(name): \(queues[name].map { "\($0)" } ?? "not listed")")
        }

        let flow = OrderFlow(fixture: fixture, saga: saga, rate: timing.rate, sku: "KB-001")
        flow.resume()

        try drill("copies 1 → 4 → 1", flow, fixture, timing) {
            var added: [WorkerProcess] = []
            for _ in 0..<3 {
                for worker in workerNames {
                    added.append(try fixture.startWorker(worker, fleetSettings[worker]!, waitForReady: false))
                    try flow.tick()
                }
            }
            for copy in added {
                try waitUntil(
                    "a new copy to report ready", timeout: .seconds(60),
                    { () throws -> Int in
                        try flow.tick()
                        return copy.http("/health")?.0 ?? 0
                    }
                ) { $0 == 200 }
            }
            try flow.run(seconds: timing.scaledUp)
            for copy in added { copy.terminate() }
            for copy in added {
                try waitUntil(
                    "a copy to stop", timeout: .seconds(60),
                    { () throws -> Bool in
                        try flow.tick()
                        return copy.process.isRunning
                    }
                ) { !$0 }
                #expect(
                    copy.waitForExit(timeout: .seconds(1)) == 0, "\(copy.logURL.lastPathComponent) stopped uncleanly")
            }
        }

        let leaders = Set(topologies.map { queues[$0.queue]?.leader ?? "?" })
        let connected = try connectedNode(fixture)
        #expect(leaders.count == 1 && !leaders.contains(connected), "leaders \(leaders), workers on \(connected)")
        let leader = leaders.sorted().first ?? "rabbit1"
        let leaderDown = timing.leaderDown
        try drill("leader \(leader) stopped \(Int(leaderDown)) s", flow, fixture, timing) {
            try flow.runInBackground {
                try Self.clusterCommand("stop", leader)
                Thread.sleep(forTimeInterval: leaderDown)
                try Self.clusterCommand("start", leader)
            }
        }
        let moved = try clusterQueues()
        for topology in topologies {
            let now = moved[topology.queue]?.leader
            #expect(now != nil && now != leader, "\(topology.queue) is led by \(now ?? "no node listed")")
        }
        #expect(try connectedNode(fixture) == connected, "the workers left \(connected) though it was not stopped")

        let partition = timing.partition
        try drill("\(connected) (the workers' node) partitioned \(Int(partition)) s", flow, fixture, timing) {
            try flow.runInBackground {
                try Self.clusterCommand("partition", connected)
                Thread.sleep(forTimeInterval: partition)
                try Self.clusterCommand("heal")
            }
        }
        #expect(try connectedNode(fixture) != connected, "the workers are still on \(connected)")

        try drill("PostgreSQL primary killed, standby promoted", flow, fixture, timing) {
            try flow.runInBackground {
                try Self.clusterCommand("stop", "pg-primary")
                try Self.clusterCommand("promote")
            }
        }
    }

    /// One drill: a window of steady flow, the fault (`fault` keeps the flow going), another
    /// window; then every order of the drill must end once as it should, the audit must be clean
    /// and nothing dead-lettered. Prints the drill's figures.
    private func drill(
        _ name: String, _ flow: OrderFlow, _ fixture: ServiceFixture, _ timing: Timing, fault: () throws -> Void
    ) throws {
        let first = flow.sent.count
        let start = Date()
        try flow.run(seconds: timing.window)
        let faultStart = Date()
        try fault()
        let faultEnd = Date()
        try flow.run(seconds: timing.window)
        let end = Date()
        let missing = try flow.settle(from: first, timeout: .seconds(120))
        flow.resume()
        var duplicated = 0
        var wrong: [String] = []
        for order in flow.sent[first...] {
            let ended = flow.events[order.command.orderID] ?? []
            if ended.count > 1 { duplicated += 1 }
            // An order with no event yet is counted as missing above.
            if let first = ended.first, !SagaDriver.endedAsExpected(first, declined: order.declined) {
                wrong.append("\(order.command.orderID): \(ended)")
            }
        }
        let report = try saga.auditSettled(fixture, timeout: .seconds(60))
        let figures = flow.figures(from: first, start: start, faultStart: faultStart, faultEnd: faultEnd, end: end)
        print(
            "cluster drill figures: \(name): \(figures) lost=\(missing) duplicated=\(duplicated) "
                + "audit=\(report.isClean ? "clean" : "VIOLATIONS")")
        #expect(missing == 0, "\(name): \(missing) orders without a terminal event")
        #expect(duplicated == 0, "\(name): \(duplicated) orders ended more than once")
        #expect(wrong.isEmpty, "\(name): orders ended wrongly: \(wrong.prefix(5))")
        #expect(report.isClean, "\(name): \(report.violations)")
        for worker in workerNames {
            #expect(try fixture.deadLetters(of: worker).isEmpty, "\(name): \(worker) dead-lettered something")
        }
    }

    // MARK: - The cluster

    /// Fails the test, saying what to run, unless the cluster answers and the test servers' URLs
    /// point at it.
    private func requireCluster() throws {
        let how =
            "the cluster drills run on the local cluster of docs/cluster.md: run `scripts/cluster_check.sh --drills` as root"
        guard getuid() == 0 else {
            Issue.record("\(how) (this process is not root)")
            throw ClusterDrillError.clusterNotUp
        }
        let (status, output) = Self.shell("\(Self.script) status")
        guard status == 0 else {
            Issue.record("\(how) (`scripts/cluster.sh status` says: \(output))")
            throw ClusterDrillError.clusterNotUp
        }
        guard TestServers.amqpURL.contains(address(of: "rabbit3")), TestServers.postgresURL.contains("\(net).2") else {
            Issue.record(
                "\(how) (COMMERCE_TEST_AMQP_URL and COMMERCE_TEST_POSTGRES_URL do not name the cluster's nodes)")
            throw ClusterDrillError.clusterNotUp
        }
    }

    private static var script: String { TestServers.repositoryRoot.appendingPathComponent("scripts/cluster.sh").path }

    /// `scripts/cluster.sh ARGUMENTS`, from any thread; throws with its output if it fails.
    private static func clusterCommand(_ arguments: String...) throws {
        let (status, output) = shell(([script] + arguments).joined(separator: " "))
        guard status == 0 else { throw ClusterDrillError.command(arguments.joined(separator: " "), output) }
    }

    /// Each quorum queue's leader and members, by queue name (nodes as `rabbit1` …).
    private func clusterQueues() throws -> [String: (leader: String, members: [String])] {
        let (status, output) = Self.shell("\(Self.script) queues")
        guard status == 0 else { throw ClusterDrillError.command("queues", output) }
        func node(_ name: Substring) -> String { String(name.replacingOccurrences(of: "rabbit@cm-", with: "")) }
        var queues: [String: (leader: String, members: [String])] = [:]
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            queues[String(fields[0])] = (node(fields[1]), fields[2].split(separator: ",").map(node))
        }
        return queues
    }

    /// The node every running worker last connected to (the test fails if they differ).
    private func connectedNode(_ fixture: ServiceFixture) throws -> String {
        let nodes = fixture.workers.filter(\.process.isRunning).map { worker -> String in
            let endpoint =
                worker.log.split(separator: "\n").filter { $0.contains("connected to broker") }.last
                .flatMap { line in line.split(separator: " ").first { $0.hasPrefix("endpoint=") } }
                .map { String($0.dropFirst("endpoint=".count)) } ?? "none"
            return ["rabbit1", "rabbit2", "rabbit3"].first { endpoint == "\(address(of: $0)):5672" } ?? endpoint
        }
        let distinct = Set(nodes)
        #expect(distinct.count == 1, "the workers are on different nodes: \(nodes)")
        return distinct.sorted().first ?? "none"
    }

    /// Runs `command` through the shell (`system(3)`, as ``run(_:)``, whose `pg_ctlcluster`
    /// children Foundation's `Process` was seen to wait on forever); its status and output.
    private static func shell(_ command: String) -> (Int32, String) {
        let outputURL = FileManager.default.temporaryDirectory.appendingPathComponent("drill-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: outputURL) }
        let status = system("\(command) > \(outputURL.path) 2>&1 < /dev/null")
        return (status, (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "")
    }
}

private enum ClusterDrillError: Error, CustomStringConvertible {
    case clusterNotUp
    case command(String, String)

    var description: String {
        switch self {
        case .clusterNotUp: "the local cluster is not up (docs/cluster.md)"
        case .command(let arguments, let output): "`scripts/cluster.sh \(arguments)` failed: \(output)"
        }
    }
}
