import AMQP
import CommerceTestKit
import Foundation
import Testing

/// A fleet given a cluster's list of nodes spreads over them: each connection tries the nodes in
/// an order of its own, and every URL of the list reaches the cluster the same way.
@Suite("AMQP: the order of a cluster's endpoints")
struct AMQPEndpointOrderTests {
    /// A deterministic generator for the pure tests (SplitMix64).
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private let three = "amqp://u:p@node1:5672/%2F,amqp://node2:5672/%2F,amqp://node3:5672/%2F"

    @Test("random: every connection a permutation of the list, each node first about a third of the time")
    func randomOrder() throws {
        let configuration = try AMQPConfiguration(urls: three)
        #expect(configuration.endpointOrder == .random)
        var generator = Seeded(state: 7)
        var firsts: [String: Int] = [:]
        for _ in 0..<600 {
            let order = AMQPConnection.connectionOrder(configuration, using: &generator)
            #expect(Set(order) == Set(configuration.endpoints) && order.count == 3)
            firsts[order[0].host, default: 0] += 1
        }
        #expect(firsts.keys.sorted() == ["node1", "node2", "node3"])
        #expect(firsts.values.allSatisfy { (150...250).contains($0) }, "\(firsts)")
    }

    @Test("listed: the list's own order")
    func listedOrder() throws {
        var configuration = try AMQPConfiguration(urls: three)
        configuration.endpointOrder = .listed
        var generator = Seeded(state: 1)
        for _ in 0..<10 {
            #expect(
                AMQPConnection.connectionOrder(configuration, using: &generator).map(\.host) == [
                    "node1", "node2", "node3",
                ])
        }
    }

    @Test(
        "a later URL may leave out or repeat the first's user, vhost and options, never name others",
        arguments: [
            ("amqp://u:p@a/v,amqp://b/v", nil),
            ("amqp://u:p@a/v,amqp://u:p@b/v", nil),
            ("amqp://u:p@a/v?heartbeat=5,amqp://b/v?heartbeat=5", nil),
            ("amqp://u:p@a/v,amqp://b", nil),
            ("amqp://u:p@a/v,amqp://w:p@b/v", "URL 2 of the list names another user than the first"),
            ("amqp://u:p@a/v,amqp://u:q@b/v", "URL 2 of the list names another password than the first"),
            ("amqp://u:p@a/v,amqp://b/other", "URL 2 of the list names another vhost than the first"),
            (
                "amqp://u:p@a/v,amqp://b/v,amqp://c/v?heartbeat=9",
                "URL 3 of the list names another heartbeat than the first"
            ),
        ] as [(String, String?)])
    func sameClusterIdentity(urls: String, refusal: String?) throws {
        do {
            let configuration = try AMQPConfiguration(urls: urls)
            #expect(refusal == nil, "accepted: \(configuration)")
            #expect(configuration.username == "u" && configuration.virtualHost == "v")
        } catch {
            #expect(refusal.map { error.message.hasPrefix($0) } == true, "\(error.message)")
            #expect(!error.message.contains(":p@") && !error.message.contains("q"), "no password in \(error.message)")
        }
    }

    @Test("forty connections to a list of two names for the local broker use both")
    func spreadsOverTheBroker() throws {
        // The one local broker under two names: where a connection lands shows the order it tried.
        let base = TestServers.amqpURL
        let other = base.replacingOccurrences(of: "@127.0.0.1:", with: "@localhost:")
        try #require(other != base, "COMMERCE_TEST_AMQP_URL names 127.0.0.1: \(base)")
        let configuration = try AMQPConfiguration(urls: "\(base),\(other)", connectionName: "endpoint-order-test")
        var hosts: [String: Int] = [:]
        for _ in 0..<40 {
            let connection = try AMQPConnection(configuration: configuration)
            hosts[connection.endpoint.host, default: 0] += 1
            connection.close()
        }
        #expect(hosts.keys.sorted() == ["127.0.0.1", "localhost"], "\(hosts)")
    }
}
