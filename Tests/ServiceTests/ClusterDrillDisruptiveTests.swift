import CommerceMessages
import CommerceTestKit
import Foundation
import Inventory
import Mongo
import Testing

/// The whole saga on the local cluster of docs/cluster.md, through the loss of a broker node, a
/// partitioned node and the loss of the database primary, with orders flowing all along: every
/// order ends once and the audit is clean.
///
/// Runs only where `scripts/cluster_check.sh` runs it: with `COMMERCE_TEST_CLUSTER=1` and the
/// test servers' URLs pointing at the cluster (`COMMERCE_TEST_AMQP_URL` naming rabbit3 alone, the
/// node the drill leaves alone, so that the test's own connection survives it;
/// `COMMERCE_TEST_POSTGRES_URL` naming both PostgreSQL hosts with
/// `target_session_attrs=read-write`). It drives `scripts/cluster.sh`, which needs root.
@Suite(
    "Disruptive: cluster drills", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["COMMERCE_TEST_CLUSTER"] == "1"))
struct ClusterDrillDisruptiveTests {
    private let saga = SagaDriver()

    private func cluster(_ arguments: String...) throws {
        let script = TestServers.repositoryRoot.appendingPathComponent("scripts/cluster.sh").path
        try run(([script] + arguments).joined(separator: " "))
    }

    @Test(
        "a broker node stopped, a node partitioned, the database primary lost and its standby promoted, orders flowing throughout: every order ends once, audit clean, nothing dead-lettered"
    )
    func nodeLossPartitionAndFailover() throws {
        // The workers list the nodes from rabbit1, so they all start there: the drill stops the
        // node they are on, then partitions the one they moved to.
        let workerBroker =
            "amqp://commerce:commerce@10.77.0.11:5672/%2F,amqp://commerce:commerce@10.77.0.12:5672/%2F,"
            + "amqp://commerce:commerce@10.77.0.13:5672/%2F"
        // Listed, not the default random order: the drill must know where they are.
        let fast: [String: String] = ["AMQP_URL": workerBroker, "AMQP_HEARTBEAT": "5", "AMQP_ENDPOINT_ORDER": "listed"]
        let extra = Dictionary(
            uniqueKeysWithValues: ["order-worker", "stock-worker", "payment-worker", "notification-worker"].map {
                ($0, fast)
            })
        let (fixture, _) = try saga.startFleet(stock: [StockSeed(sku: "KB-001", quantity: 100_000)], extra: extra)
        defer { try? MongoClient(uri: TestServers.mongoURL).dropDatabase(fixture.mongoDatabase) }

        let orders = (0..<240).map { index in
            saga.order([("KB-001", 1, 30_000)], token: index % 10 == 0 ? "tok_decline" : "tok_approve")
        }
        // Twenty orders at a time between the faults, so that each fault meets orders in flight.
        var next = 0
        func publish(_ count: Int) throws {
            for command in orders[next..<min(next + count, orders.count)] { try fixture.publish(command) }
            next = min(next + count, orders.count)
        }
        try publish(40)
        try cluster("stop", "rabbit1")
        try publish(20)
        Thread.sleep(forTimeInterval: 10)
        try publish(20)
        try cluster("start", "rabbit1")
        try publish(40)
        try cluster("partition", "rabbit2")
        try publish(20)
        Thread.sleep(forTimeInterval: 30)
        try publish(20)
        try cluster("heal")
        try publish(20)
        try cluster("stop", "pg-primary")
        try publish(20)
        try cluster("promote")
        try publish(orders.count - next)

        let events = try saga.terminalEvents(fixture, count: orders.count)
        for (index, command) in orders.enumerated() {
            let ended = events[command.orderID] ?? []
            #expect(ended.count == 1, "\(command.orderID): \(ended)")
            switch ended.last {
            case .orderConfirmed? where index % 10 != 0: break
            case .orderCancelled(let cancelled)? where index % 10 == 0 && cancelled.reason == .paymentDeclined: break
            default: Issue.record("order \(index) ended with \(ended)")
            }
        }
        let report = try saga.auditSettled(fixture, timeout: .seconds(60))
        #expect(report.isClean, "\(report.violations)")
        for worker in ["order-worker", "stock-worker", "payment-worker", "notification-worker"] {
            #expect(try fixture.deadLetters(of: worker).isEmpty, "\(worker) dead-lettered something")
        }
        // The faults reached the workers: each started on rabbit1, moved to rabbit2 when rabbit1
        // stopped, and off rabbit2 when it was partitioned.
        for worker in fixture.workers {
            let endpoints = worker.log.split(separator: "\n").filter { $0.contains("connected to broker") }.compactMap {
                line in line.split(separator: " ").first { $0.hasPrefix("endpoint=") }.map { String($0.dropFirst(9)) }
            }
            let name = worker.logURL.lastPathComponent
            #expect(endpoints.first == "10.77.0.11:5672", "\(name): \(endpoints)")
            #expect(endpoints.contains("10.77.0.12:5672"), "\(name): \(endpoints)")
            #expect(endpoints.count >= 3 && endpoints.last != "10.77.0.12:5672", "\(name): \(endpoints)")
        }
    }
}
