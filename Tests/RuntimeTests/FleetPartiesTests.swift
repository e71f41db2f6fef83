import CommerceMessages
import Foundation
import Testing

@testable import WorkerRuntime

@Suite("FleetCatalog parties")
struct FleetPartiesTests {
    @Test("each worker is a party that publishes exactly what it emits and binds what it consumes")
    func workersAreParties() throws {
        for worker in FleetCatalog.workers {
            let party = try #require(FleetCatalog.party(of: worker))
            #expect(party.name == worker.name)
            #expect(party.publishes == worker.emits)
            #expect(party.binds == worker.consumes)
            #expect(party.defaultUsers == [worker.name])
            #expect(!party.replaysDeadLetters)
        }
    }

    @Test("upstream publishes only the two commands; only operators replay dead letters")
    func upstreamAndOperators() {
        #expect(FleetCatalog.upstreamParty.publishes == [.orderPlace, .orderCancel])
        #expect(FleetCatalog.upstreamParty.mayDeliver == [.orderPlace, .orderCancel])
        #expect(FleetCatalog.parties.filter(\.replaysDeadLetters).map(\.name) == ["operator"])
        #expect(FleetCatalog.operatorParty.mayDeliver == Set(MessageType.allCases))
    }

    @Test("every message type has exactly one worker or upstream party that publishes it, commands excepted")
    func oneSenderPerEvent() {
        for type in MessageType.allCases {
            let publishers = FleetCatalog.parties.filter { $0.worker != nil && $0.publishes.contains(type) }
            #expect(publishers.count == (type.isCommand ? 0 : 1), "\(type.rawValue): \(publishers.map(\.name))")
        }
    }

    @Test("the configuration keys are distinct and under identity.")
    func configurationKeys() {
        let keys = FleetCatalog.parties.map(\.configurationKey)
        #expect(Set(keys).count == keys.count)
        #expect(keys.allSatisfy { $0.hasPrefix("identity.") })
    }

    /// Whether `regex` (RabbitMQ's permission regexes are unanchored PCRE) matches `text`.
    private func matches(_ regex: String, _ text: String) -> Bool {
        text.range(of: regex, options: .regularExpression) != nil
    }

    @Test("a worker's permissions reach its own queues and the exchange, nothing else")
    func workerPermissions() throws {
        let payments = try #require(FleetCatalog.party(of: FleetCatalog.paymentWorker)).permissions()
        for name in ["commerce", "payment-worker", "payment-worker.dlq", "payment-worker.retry.30s"] {
            #expect(matches(payments.configure, name), "\(name)")
            #expect(matches(payments.read, name), "\(name)")
            #expect(matches(payments.write, name), "\(name)")
        }
        for name in ["order-worker", "payment-worker-2", "commerce2", "xcommerce", "payment-worker.dlq.x"] {
            #expect(!matches(payments.configure, name), "\(name)")
            #expect(!matches(payments.read, name), "\(name)")
        }
        #expect(matches(payments.write, "amq.default"))
        #expect(!matches(payments.configure, "amq.default"))
        #expect(matches(payments.topicWrite, "payment.succeeded"))
        #expect(!matches(payments.topicWrite, "stock.reserved"))
        #expect(!matches(payments.topicWrite, "paymentXsucceeded"), "dots are escaped")
        #expect(matches(payments.topicRead, "stock.reserved"))
        #expect(!matches(payments.topicRead, "order.place"))
    }

    @Test("upstream may publish only the commands, to the exchange, never the default exchange")
    func upstreamPermissions() {
        let upstream = FleetCatalog.upstreamParty.permissions()
        #expect(matches(upstream.topicWrite, "order.place"))
        #expect(matches(upstream.topicWrite, "order.cancel"))
        for key in ["payment.succeeded", "order.placed", "order.cancelled", "stock.reserved"] {
            #expect(!matches(upstream.topicWrite, key), "\(key)")
        }
        #expect(!matches(upstream.write, "amq.default"))
        #expect(!matches(upstream.write, "order-worker"))
        #expect(matches(upstream.configure, "upstream.outcomes"))
        #expect(!matches(upstream.configure, "commerce"))
        #expect(matches(upstream.topicRead, "order.confirmed"))
        #expect(!matches(upstream.topicRead, "payment.succeeded"))
    }

    @Test("the notification-worker publishes nothing; a queue suffix moves the queue permissions")
    func notificationsAndSuffix() throws {
        let notifications = try #require(FleetCatalog.party(of: FleetCatalog.notificationWorker))
        #expect(notifications.permissions().topicWrite == "^$")
        let suffixed = notifications.permissions(queueSuffix: "-blue")
        #expect(matches(suffixed.read, "notification-worker-blue.dlq"))
        #expect(!matches(suffixed.read, "notification-worker.dlq"))
    }

    @Test("config/broker-identities.tsv, which scripts/services.sh applies, is the catalog's table")
    func localIdentitiesFile() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/broker-identities.tsv")
        let rows = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") && !$0.isEmpty }.map(String.init)
        let expected = FleetCatalog.brokerIdentities().map { identity in
            let p = identity.permissions
            return [identity.user, FleetCatalog.exchange, p.configure, p.write, p.read, p.topicWrite, p.topicRead]
                .joined(separator: "\t")
        }
        #expect(rows == expected, "expected rows:\n\(expected.joined(separator: "\n"))")
    }
}
