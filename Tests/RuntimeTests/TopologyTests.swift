import AMQP
import Testing

@testable import WorkerRuntime

@Suite("Topology")
struct TopologyTests {
    private func topology(_ queueType: Topology.QueueType) -> Topology {
        Topology(
            queue: "orders", bindings: ["order.place"], queueType: queueType,
            retryDelays: [.milliseconds(250), .seconds(1), .seconds(30)], deliveryLimit: 7)
    }

    private func arguments(_ topology: Topology, of name: String) -> AMQPTable? {
        topology.queues.first { $0.name == name }?.arguments
    }

    @Test("queues are declared dead-letter queue first, then the main queue, then the retry tiers")
    func declarationOrder() {
        #expect(
            topology(.quorum).queues.map(\.name)
                == ["orders.dlq", "orders", "orders.retry.250ms", "orders.retry.1s", "orders.retry.30s"])
        #expect(topology(.classic).queues.map(\.name) == topology(.quorum).queues.map(\.name))
    }

    @Test(
        "a quorum main queue dead-letters to <queue>.dlq at least once, rejects publishes on overflow, limits deliveries"
    )
    func quorumMainQueue() {
        let expected: AMQPTable = [
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "orders.dlq",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-delivery-limit": 7,
        ]
        #expect(arguments(topology(.quorum), of: "orders") == expected)
    }

    @Test(
        "each quorum retry queue expires after its delay back into the main queue, at least once",
        arguments: [("orders.retry.250ms", Int64(250)), ("orders.retry.1s", 1000), ("orders.retry.30s", 30_000)])
    func quorumRetryQueue(name: String, ttl: Int64) {
        let expected: AMQPTable = [
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "orders",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-message-ttl": .int(ttl),
        ]
        #expect(arguments(topology(.quorum), of: name) == expected)
    }

    @Test("a quorum dead-letter queue has a delivery limit no reading of letters reaches; a classic one only its type")
    func deadLetterQueue() {
        #expect(
            arguments(topology(.quorum), of: "orders.dlq")
                == ["x-queue-type": "quorum", "x-delivery-limit": .int(2_147_483_647)])
        #expect(arguments(topology(.classic), of: "orders.dlq") == ["x-queue-type": "classic"])
    }

    @Test("classic queues have no dead-letter strategy, overflow setting or delivery limit")
    func classicQueues() {
        let classic = topology(.classic)
        #expect(
            arguments(classic, of: "orders")
                == [
                    "x-queue-type": "classic", "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "orders.dlq",
                ])
        #expect(
            arguments(classic, of: "orders.retry.1s")
                == [
                    "x-queue-type": "classic", "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "orders",
                    "x-message-ttl": 1000,
                ])
        for (_, arguments) in classic.queues {
            #expect(arguments["x-dead-letter-strategy"] == nil)
            #expect(arguments["x-overflow"] == nil)
            #expect(arguments["x-delivery-limit"] == nil)
        }
    }

    @Test("retry queues are named by their delay, in seconds when whole, else in milliseconds")
    func retryQueueNames() {
        let topology = Topology(
            queue: "Q", bindings: [],
            retryDelays: [.seconds(1), .milliseconds(250), .milliseconds(1500), .seconds(120)])
        #expect(
            (0..<4).map(topology.retryQueue(forTier:)) == [
                "Q.retry.1s", "Q.retry.250ms", "Q.retry.1500ms", "Q.retry.120s",
            ])
        #expect(topology.deadLetterQueue == "Q.dlq")
    }

    @Test("the defaults: exchange commerce, quorum queues, tiers of 1 s, 5 s and 30 s, delivery limit 1,000")
    func defaults() {
        let topology = Topology(queue: "q", bindings: ["a.b"])
        #expect(topology.exchange == "commerce")
        #expect(topology.queueType == .quorum)
        #expect(topology.retryDelays == [.seconds(1), .seconds(5), .seconds(30)])
        #expect(arguments(topology, of: "q")?["x-delivery-limit"] == 1_000)
    }

    @Test("a quorum initial group size goes on every quorum queue; none by default; classic queues take none")
    func quorumInitialGroupSize() {
        #expect(topology(.quorum).queues.allSatisfy { $0.arguments["x-quorum-initial-group-size"] == nil })
        var sized = topology(.quorum)
        sized.quorumInitialGroupSize = 3
        #expect(sized.queues.count == 5)
        #expect(sized.queues.allSatisfy { $0.arguments["x-quorum-initial-group-size"] == 3 })
        var classic = topology(.classic)
        classic.quorumInitialGroupSize = 3
        #expect(classic.queues.allSatisfy { $0.arguments["x-quorum-initial-group-size"] == nil })
    }
}
